package synth

// words are title words, most common first (Zipf order): the head is the
// kind of word that fills real release titles ("the", "of", "love",
// "night"), the tail gives variety.
var words = []string{
	"the", "of", "and", "a", "in", "love", "night", "man", "world", "last",
	"dark", "life", "house", "time", "war", "story", "day", "city", "girl", "king",
	"black", "star", "dead", "secret", "blood", "lost", "new", "home", "american", "great",
	"little", "big", "wild", "red", "game", "space", "return", "fire", "blue", "white",
	"one", "two", "first", "bright", "legend", "ghost", "moon", "sun", "river", "road",
	"queen", "dream", "heart", "shadow", "island", "empire", "crime", "death", "family", "friends",
	"summer", "winter", "christmas", "school", "high", "street", "hunter", "killer", "storm", "ice",
	"iron", "golden", "silver", "stone", "sea", "ocean", "mountain", "forest", "desert", "planet",
	"earth", "music", "live", "best", "hits", "greatest", "collection", "complete", "edition", "ultimate",
	"journey", "adventure", "mystery", "paradise", "kingdom", "princess", "prince", "brother", "sister", "mother",
	"father", "son", "daughter", "children", "wolf", "dragon", "tiger", "lion", "eagle", "angel",
	"devil", "heaven", "hell", "zero", "future", "past", "memory", "truth", "lies", "justice",
	"revenge", "escape", "rescue", "mission", "agent", "spy", "code", "machine", "robot", "alien",
	"zombie", "vampire", "witch", "magic", "wizard", "knight", "warrior", "soldier", "captain", "doctor",
	"detective", "police", "lawyer", "teacher", "chef", "kitchen", "garden", "farm", "village", "town",
	"country", "nation", "america", "london", "paris", "tokyo", "berlin", "rome", "york", "texas",
	"california", "west", "east", "north", "south", "midnight", "morning", "evening", "tomorrow", "yesterday",
	"forever", "never", "always", "again", "alone", "together", "beyond", "under", "over", "inside",
	"outside", "without", "between", "after", "before", "final", "origins", "rising", "fall", "awakening",
	"reckoning", "chronicles", "saga", "tales", "files", "diaries", "letters", "songs", "voices", "echoes",
	"broken", "hidden", "silent", "burning", "frozen", "falling", "running", "flying", "dancing", "singing",
	"crazy", "funny", "happy", "sad", "strange", "beautiful", "perfect", "deadly", "dangerous", "wicked",
	"sweet", "bitter", "cold", "hot", "fast", "slow", "young", "old", "rich", "poor",
	"python", "linux", "windows", "office", "studio", "photo", "video", "audio", "editor", "manager",
	"guide", "handbook", "cookbook", "history", "science", "nature", "art", "design", "programming", "mathematics",
	"cosmos", "galaxy", "universe", "quantum", "atlas", "oracle", "phoenix", "titan", "odyssey", "genesis",
}

var sources = []string{"BluRay", "WEB-DL", "WEBRip", "HDTV", "DVDRip", "BDRip", "REMUX", "AMZN.WEB-DL", "NF.WEB-DL"}

var codecs = []string{"x264", "x265", "H.264", "HEVC", "AV1", "XviD", "DDP5.1.x264", "AAC.x265", "DTS-HD.MA.5.1.x264"}

var groups = []string{"SPARKS", "RARBG", "YTS", "NTb", "FLUX", "TEPES", "CMRG", "EVO", "GalaxyRG", "PSA", "ION10", "NOGRP", "SMURF", "KOGi", "DON", "FGT"}

var languages = []string{"English", "Spanish", "French", "German", "Italian", "Portuguese", "Russian", "Japanese", "Chinese", "Dutch"}

var reposts = []string{"(repost)", "[mirror]", "(proper)", "[reupload]"}

var (
	movieTags = []string{"hd", "1080p", "x264", "english", "movie", "hevc", "action", "drama", "comedy", "thriller", "subs", "4k", "hdr", "remux", "horror", "documentary", "animation", "classic"}
	tvTags    = []string{"hd", "tv", "1080p", "english", "web", "x264", "series", "hevc", "drama", "comedy", "anime", "subs", "reality", "documentary", "crime", "4k"}
	audioTags = []string{"music", "flac", "mp3", "rock", "pop", "lossless", "jazz", "classical", "electronic", "hip-hop", "metal", "soundtrack", "live", "folk"}
	pcTags    = []string{"software", "windows", "x64", "game", "linux", "portable", "mac", "utility", "multilingual", "rpg", "strategy", "indie"}
	bookTags  = []string{"ebook", "epub", "english", "fiction", "nonfiction", "science", "history", "programming", "fantasy", "biography", "pdf"}
	otherTags = []string{"misc", "archive", "images", "wallpapers", "fonts", "data", "tutorial", "course", "samples", "3d"}
)

var audioFormats = []string{"AAC 2.0", "AC3 5.1", "DTS 5.1", "DDP 5.1", "TrueHD Atmos 7.1", "FLAC 2.0", "Opus 2.0"}

var boilerplate = []string{
	"Please seed after downloading.",
	"Thanks to the original uploader.",
	"Scene release, untouched.",
	"Encoded by the group, sample included.",
	"No ads, no passwords, enjoy.",
}
