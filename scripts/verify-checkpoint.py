#!/usr/bin/env python3
"""Checks a signed checkpoint of a transparency log without Greenlight's code: an independent implementation of the
C2SP formats (signed-note, tlog-checkpoint) and of the RFC 6962 Merkle tree, written from the specifications, with
Python's `cryptography` for Ed25519 (Debian: python3-cryptography).

    scripts/verify-checkpoint.py --key VKEY --checkpoint FILE [--leaves FILE] [--witness VKEY ...]

VKEY is the log's verifier key, `<name>+<8 hex digits>+<base64(0x01 || Ed25519 public key)>`. FILE holds the signed
note. With --leaves (one leaf a line, the line's bytes without its newline), the tree's root is recomputed from them
and must be the checkpoint's, at its size. Each --witness (a C2SP tlog-cosignature v1 key: `<name>+<id>+<base64(0x04 ||
key)>`) must have cosigned it. Prints one line and exits 0 when everything checks, 1 otherwise.
"""

import argparse
import base64
import binascii
import hashlib
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Refused(Exception):
    pass


def parse_vkey(text, kind=0x01):
    name, key_id, encoded = text.strip().split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[0] != kind:
        raise Refused(f"the verifier key of {name} is not an Ed25519 key of type {kind:#04x}")
    computed = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if computed.hex() != key_id:
        raise Refused(f"the verifier key's ID {key_id} is not its key's ({computed.hex()})")
    return name, computed, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note, name, key_id, key):
    if not note.endswith("\n") or "\n\n" not in note:
        raise Refused("not a signed note")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise Refused("the note holds a control character")
    split = note.rindex("\n\n")
    text, signatures = note[: split + 1], note[split + 2 :]
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Refused(f"not a signature line: {line!r}")
        signer, blob = line[2:].split(" ")
        raw = base64.b64decode(blob, validate=True)
        if signer != name or raw[:4] != key_id:
            continue  # another key's, such as a witness's cosignature
        try:
            key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise Refused(f"the signature of {name} does not verify")
        verified = True
    if not verified:
        raise Refused(f"the note has no signature by {name}")
    return text


def check_cosignature(note, text, name, key_id, key):
    """tlog-cosignature v1: base64(key ID || 8-byte big-endian time || Ed25519 signature) over
    "cosignature/v1\ntime <time>\n" followed by the checkpoint's text."""
    for line in note[note.rindex("\n\n") + 2 : -1].split("\n"):
        signer, blob = line[2:].split(" ")
        raw = base64.b64decode(blob, validate=True)
        if signer != name or raw[:4] != key_id:
            continue
        if len(raw) != 4 + 8 + 64:
            raise Refused(f"the cosignature of {name} is not a timestamped Ed25519 signature")
        time = int.from_bytes(raw[4:12], "big")
        try:
            key.verify(raw[12:], f"cosignature/v1\ntime {time}\n".encode() + text.encode())
        except InvalidSignature:
            raise Refused(f"the cosignature of {name} does not verify")
        return time
    raise Refused(f"the checkpoint is not cosigned by {name}")


def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(hashes):
    """MTH of RFC 6962 section 2.1, recursively: the split is the largest power of two below n."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node_hash(root(hashes[:split]), root(hashes[split:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--leaves")
    parser.add_argument("--witness", action="append", default=[])
    args = parser.parse_args()
    try:
        name, key_id, key = parse_vkey(args.key)
        with open(args.checkpoint, encoding="utf-8", newline="") as handle:
            note = handle.read()
        text = open_note(note, name, key_id, key)
        cosigned = [(parse_vkey(witness, 0x04)[0], check_cosignature(note, text, *parse_vkey(witness, 0x04))) for witness in args.witness]
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not lines[0]:
            raise Refused("the checkpoint has no origin, size and root")
        if not re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1], flags=re.ASCII) or int(lines[1]) >= 2**64:
            raise Refused(f"the tree size {lines[1]!r} is not a decimal number")
        origin, size, stated = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
        if len(stated) != 32 or base64.b64encode(stated).decode() != lines[2]:
            raise Refused("the root is not base64 of 32 bytes")
        if origin != name:
            raise Refused(f"the checkpoint is of {origin!r}, the key of {name!r}")
        if args.leaves:
            with open(args.leaves, "rb") as handle:
                leaves = handle.read().split(b"\n")
            if leaves and leaves[-1] == b"":
                leaves.pop()
            if len(leaves) < size:
                raise Refused(f"the checkpoint is of {size} leaves, the file has {len(leaves)}")
            computed = root([leaf_hash(leaf) for leaf in leaves[:size]])
            if computed != stated:
                raise Refused(f"the root of the first {size} leaves is {computed.hex()}, the checkpoint says {stated.hex()}")
        witnesses = "".join(f", cosigned by {witness} at {time}" for witness, time in cosigned)
        print(f"checkpoint of {origin} verified: size {size}, root {stated.hex()}{witnesses}")
        return 0
    except (Refused, ValueError, binascii.Error) as error:
        print(f"checkpoint refused: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
