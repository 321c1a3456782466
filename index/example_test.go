package index_test

import (
	"fmt"

	"indexd/index"
)

func ExampleFromMagnet() {
	p, err := index.FromMagnet("magnet:?xt=urn:btih:b243459ed7a983c716731389ad5e9f261ebd8c0f&dn=lonely-file.bin&tr=http%3a%2f%2f127.0.0.1%3a6969%2fannounce")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x %s %v\n", p.InfohashV1, p.Name, p.Trackers)
	fmt.Println(index.MagnetURI(p))
	_, err = index.FromMagnet("magnet:?xt=urn:btih:b243459e")
	fmt.Println(err)
	// Output:
	// b243459ed7a983c716731389ad5e9f261ebd8c0f lonely-file.bin [http://127.0.0.1:6969/announce]
	// magnet:?xt=urn:btih:b243459ed7a983c716731389ad5e9f261ebd8c0f&dn=lonely-file.bin&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce
	// index: bad magnet link: btih has 8 characters, want 40 hex or 32 base32
}

func ExampleParseCategory() {
	for _, s := range []string{"movies", "5000", "tv/hd", "TV > UHD", "ebooks"} {
		c, _ := index.ParseCategory(s)
		fmt.Println(uint32(c), c, c.Parent())
	}
	_, err := index.ParseCategory("2001")
	fmt.Println(err)
	// Output:
	// 2000 Movies Movies
	// 5000 TV TV
	// 5040 TV/HD TV
	// 5045 TV/UHD TV
	// 7020 Books/EBook Books
	// index: bad category: 2001 is not a Torznab category
}
