#!/usr/bin/env python3
"""Checks a Greenlight attestation with someone else's DSSE implementation: securesystemslib's `dsse.Envelope` and
`SSlibKey` (PyPI: securesystemslib), not Greenlight's code.

    scripts/verify-attestation.py --key VKEY --attestation FILE --artifact NAME@sha256:HEX --environment ENV

VKEY is the log's verifier key, `<name>+<8 hex digits>+<base64(0x01 || Ed25519 public key)>`; the envelope's signature
must carry the key ID `<name>+<8 hex digits>`. The payload must be an in-toto Statement v1 with the Deployment predicate
for that digest and environment, approved. Prints one line and exits 0 when everything checks, 1 otherwise.
"""

import argparse
import base64
import json
import sys

from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--attestation", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--environment", required=True)
    args = parser.parse_args()
    name, key_id, encoded = args.key.strip().split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        print("refused: the key is not an Ed25519 note key", file=sys.stderr)
        return 1
    key = SSlibKey(f"{name}+{key_id}", "ed25519", "ed25519", {"public": raw[1:].hex()})
    with open(args.attestation, encoding="utf-8") as handle:
        envelope = Envelope.from_dict(json.load(handle))
    try:
        envelope.verify([key], 1)
    except VerificationError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    if envelope.payload_type != "application/vnd.in-toto+json":
        print(f"refused: payload type {envelope.payload_type}", file=sys.stderr)
        return 1
    statement = json.loads(envelope.payload)
    name, _, digest = args.artifact.partition("@sha256:")
    checks = [
        (statement.get("_type") == "https://in-toto.io/Statement/v1", "not an in-toto Statement v1"),
        (statement.get("predicateType") == "https://in-toto.io/attestation/deployment/v1", "not the Deployment predicate"),
        ({"name": name, "digest": {"sha256": digest}} in statement.get("subject", []), f"not about {args.artifact}"),
        (statement["predicate"].get("scopes", {}).get("greenlight.dev/environment/v1") == args.environment, f"not for {args.environment}"),
        (statement["predicate"].get("greenlight", {}).get("decision") == "approved", "not approved"),
    ]
    for passed, why in checks:
        if not passed:
            print(f"refused: {why}", file=sys.stderr)
            return 1
    print(f"attestation verified: {args.artifact} approved for {args.environment} by gate {statement['predicate']['greenlight']['gateId']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
