#!/usr/bin/python3
"""Generate index/testdata/torrents/*.torrent and fixtures.json with libtorrent.

Run from this directory with Debian's python3-libtorrent (2.0.x):

    apt-get install -y python3-libtorrent && /usr/bin/python3 gen.py

The .torrent files and fixtures.json are checked in; the Go tests read them
and never need libtorrent. Every field in fixtures.json is what libtorrent
reports for the torrent it just wrote (infohashes, total size without pad
files, the file list without pad files, the private flag, trackers, web
seeds and the magnet link).
"""
import json
import os
import shutil
import tempfile

import libtorrent as lt


def content(n, seed):
    """n deterministic bytes."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(x & 0xFF)
    return bytes(out)


def write_tree(root, files):
    for i, (path, size) in enumerate(files):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content(size, i + 1))


CASES = [
    # name, files (relative to the torrent root), flags, piece size, private,
    # tracker tiers, web seeds, made_by
    dict(file="v2-only.torrent", root="v2only",
         files=[("v2only/movie.mkv", 70000), ("v2only/subs/en.srt", 1200),
                ("v2only/subs/fr.srt", 1300), ("v2only/empty.txt", 0)],
         flags=lt.create_torrent.v2_only, piece=16384, private=False,
         trackers=[["http://127.0.0.1:6969/announce"], ["udp://127.0.0.1:6969"]],
         seeds=[], made_by="libtorrent 2.0.8 (v2 only, nested, an empty file)"),
    dict(file="v2-single.torrent", root="single-v2.iso",
         files=[("single-v2.iso", 40000)],
         flags=lt.create_torrent.v2_only, piece=16384, private=False,
         trackers=[["http://127.0.0.1:6969/announce"]],
         seeds=[], made_by="libtorrent 2.0.8 (v2 only, single file)"),
    dict(file="private.torrent", root="Private.Show.S01E01.1080p.WEB-DL.x264-GRP",
         files=[("Private.Show.S01E01.1080p.WEB-DL.x264-GRP/Private.Show.S01E01.1080p.WEB-DL.x264-GRP.mkv", 60000),
                ("Private.Show.S01E01.1080p.WEB-DL.x264-GRP/Private.Show.S01E01.nfo", 500)],
         flags=lt.create_torrent.v1_only, piece=16384, private=True,
         trackers=[["https://tracker.example.org/announce?passkey=abc"], ["udp://backup.example.org:1337/announce", "http://third.example.org/announce"]],
         seeds=["https://seed.example.org/files/"], made_by="libtorrent 2.0.8 (v1, private, tiers, web seed)"),
    dict(file="v1-padded.torrent", root="padded",
         files=[("padded/a.bin", 20000), ("padded/b.bin", 30000), ("padded/c/d.bin", 5000)],
         flags=lt.create_torrent.v1_only | lt.create_torrent.canonical_files, piece=16384, private=False,
         trackers=[["http://127.0.0.1:6969/announce"]],
         seeds=[], made_by="libtorrent 2.0.8 (v1 with BEP 47 pad files)"),
    dict(file="hybrid-private.torrent", root="hybrid-private",
         files=[("hybrid-private/one.bin", 25000), ("hybrid-private/two.bin", 9000)],
         flags=0, piece=16384, private=True,
         trackers=[["http://127.0.0.1:6969/announce"]],
         seeds=["http://127.0.0.1:8080/"], made_by="libtorrent 2.0.8 (hybrid, private, web seed)"),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for c in CASES:
        tmp = tempfile.mkdtemp()
        try:
            write_tree(tmp, c["files"])
            fs = lt.file_storage()
            lt.add_files(fs, os.path.join(tmp, c["root"]))
            ct = lt.create_torrent(fs, c["piece"], flags=c["flags"])
            for tier, urls in enumerate(c["trackers"]):
                for u in urls:
                    ct.add_tracker(u, tier)
            for s in c["seeds"]:
                ct.add_url_seed(s)
            ct.set_priv(c["private"])
            ct.set_creator("indexd testdata gen.py")
            lt.set_piece_hashes(ct, tmp)
            e = ct.generate()
            e.pop(b"creation date", None)
            data = lt.bencode(e)
        finally:
            shutil.rmtree(tmp)
        with open(os.path.join(here, c["file"]), "wb") as f:
            f.write(data)
        ti = lt.torrent_info(lt.bdecode(data))
        ih = ti.info_hashes()
        st = ti.files()
        files = []
        total = 0
        for i in range(st.num_files()):
            if st.file_flags(i) & lt.file_storage.flag_pad_file:
                continue
            files.append({"path": st.file_path(i).replace(os.sep, "/"), "length": st.file_size(i)})
            total += st.file_size(i)
        v1 = str(ih.v1) if ih.has_v1() else None
        v2 = str(ih.v2) if ih.has_v2() else None
        out.append({
            "file": c["file"],
            "made_by": c["made_by"],
            "name": ti.name(),
            "infohash_v1": v1,
            "infohash_v2": v2,
            "total_size": total,
            "private": ti.priv(),
            "files": files,
            "trackers": [t.url for t in ti.trackers()],
            "web_seeds": [w["url"] for w in ti.web_seeds()],
            "magnet": lt.make_magnet_uri(ti),
        })
    with open(os.path.join(here, "fixtures.json"), "w") as f:
        json.dump({"note": "written by gen.py from what libtorrent %s reports" % lt.__version__,
                   "torrents": out}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
