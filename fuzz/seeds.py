#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/TARGET/) from the project's own
examples: the hex dumps of docs/PROTOCOL.md and docs/NETWORK-FUNCTIONS.md, the configuration
files and their documented examples, and a few Range headers. Idempotent; run from anywhere:

    python3 fuzz/seeds.py
"""
import hashlib
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    (directory / name).write_bytes(data)


def hexdumps(markdown):
    """The byte strings of every `<!-- example:NAME -->` hex dump."""
    text = (ROOT / markdown).read_text()
    for name, body in re.findall(r"<!-- example:([a-z0-9-]+) -->(.*?)<!-- /example -->", text, re.S):
        data = bytearray()
        for line in body.splitlines():
            m = re.match(r"^([0-9a-f]{4})  ((?:[0-9a-f]{2} {1,2})+)", line)
            if m:
                data += bytes.fromhex(m.group(2).replace(" ", ""))
        if data:
            yield name, bytes(data)


def doc_block(path, start, language="yaml"):
    """The first fenced block after the line containing `start` (or the //! doc comment)."""
    text = (ROOT / path).read_text()
    if path.endswith(".rs"):
        lines = [l[4:] if l.startswith("//! ") else l[3:] for l in text.splitlines() if l.startswith("//!")]
        text = "\n".join(lines)
    m = re.search(re.escape(start) + r".*?```" + language + r"\n(.*?)```", text, re.S)
    return m.group(1) if m else None


packets = dict(hexdumps("docs/PROTOCOL.md"))
for name in ("hello", "response", "request", "retransmission", "refuse"):
    if name in packets:
        data = packets[name]
        write("wire_packets", data)
        write("server_datagram", data)
        write("client_datagram", data)
        write("client_datagram", data + b"\xfe" + data)
        # The same datagram behind an IPv4 encapsulation header naming 192.0.2.7:40001.
        header = bytes.fromhex("ec5401040" + "00c9c41c0000207")
        write("encap_header", header + data)
        write("mirror_datagram", header + data)
encap_example = bytes.fromhex("ec54010400 0c9c41c0000207 0102".replace(" ", ""))
write("encap_header", encap_example)
ipv6 = bytes.fromhex("ec54010600189c41") + bytes(15) + b"\x01" + b"\x01\x02"
write("encap_header", ipv6)
via = bytes.fromhex("ec540104001a9c41c0000207") + bytes([0x56, 6, 0x1b, 0x58, 127, 0, 0, 1]) + b"\x01\x02"
via = via[:5] + bytes([20]) + via[6:]
write("encap_header", via)
auth = bytes.fromhex("ec54010400") + bytes([12 + 15]) + bytes.fromhex("9c41c0000207") \
    + bytes.fromhex("4d0d03010203041122334455667788") + b"\x01\x02"
write("encap_header", auth)
write("mirror_datagram", auth)

configs = [
    (0, doc_block("server/src/config.rs", "The server's settings")),
    (1, (ROOT / "balancer" / "balancer.example.yaml").read_text()),
    (1, doc_block("balancer/src/config.rs", "The balancer's YAML")),
    (2, doc_block("mirror/src/config.rs", "The mirror's configuration")),
    (3, doc_block("server/src/keyfile.rs", "The format is a YAML list")),
]
for which, text in configs:
    if text:
        write("config_files", bytes([which]) + text.encode())

for header in ["bytes=0-", "bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=5-2", "items=0-1"]:
    write("http_range", struct.pack("<Q", 10_000) + header.encode())
print("seeds:", {d.name: len(list(d.iterdir())) for d in sorted(CORPUS.iterdir())})
