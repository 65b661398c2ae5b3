#!/usr/bin/env python3
"""Verify a Greenlight audit log from its stored rows, independently of Greenlight.

    scripts/verify-audit-chain.py path/to/greenlight.db

Recomputes every event's hash exactly as docs/audit.md ("The hash chain") defines it, from the columns of
audit_event, checks each event's link to the one before it and the recorded head in audit_head, and prints the same
line as `greenlight audit verify`: "audit log intact: …" on standard output (exit 0), or "audit log broken at
event N: …" on standard error (exit 1). Exit 2: the database cannot be read. Python 3 standard library only.
"""

import datetime
import hashlib
import json
import math
import sqlite3
import sys
import urllib.request

GENESIS = "0" * 64
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# Seconds from 1970-01-01 to 2001-01-01, the reference date of the Date that versions before schema v5 formatted.
REFERENCE_DATE = 978307200


def at_text(milliseconds):
    """RFC 3339 in UTC of the stored `at` (integer milliseconds since 1970), computed in integers."""
    seconds, millisecond = divmod(milliseconds, 1000)  # floor division: before 1970 too
    instant = EPOCH + datetime.timedelta(seconds=seconds)
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % millisecond


def legacy_at_text(milliseconds):
    """The text versions before schema v5 hashed: the stored milliseconds as a double of seconds since 2001, its whole
    seconds, and the milliseconds of its fraction rounded down (one millisecond early for about half of them)."""
    since_reference = milliseconds / 1000 - float(REFERENCE_DATE)  # both steps rounded as IEEE 754 doubles
    seconds = math.floor(since_reference)
    fraction = math.floor((since_reference - seconds) * 1000)
    return at_text((int(seconds) + REFERENCE_DATE) * 1000 + fraction)


def json_string(text):
    """A JSON string escaping only what JSON requires: quote, backslash, and control characters (\\n, \\r, \\t,
    the others as \\u00xx in lowercase hex). Everything else is written as itself, in UTF-8."""
    out = ['"']
    for character in text:
        code = ord(character)
        if character == '"':
            out.append('\\"')
        elif character == "\\":
            out.append("\\\\")
        elif character == "\n":
            out.append("\\n")
        elif character == "\r":
            out.append("\\r")
        elif character == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append("\\u%04x" % code)
        else:
            out.append(character)
    out.append('"')
    return "".join(out)


def json_value(value):
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json_string(value)
    # A JSON object: keys sorted by their UTF-8 bytes, which is the order of their code points.
    return "{" + ",".join(json_string(key) + ":" + json_value(value[key]) for key in sorted(value)) + "}"


def canonical(row, details, time_text):
    fields = {
        "action": row["action"],
        "actor": row["actor"],
        "artifact": row["artifact"],
        "at": time_text(row["at"]),
        "details": details,
        "environment": row["environment"],
        "gate_id": row["gate_id"],
        "sequence": row["sequence"],
        "service": row["service"],
    }
    return json_value(fields).encode("utf-8")


def event_hash(previous_hash, canonical_bytes):
    return hashlib.sha256(previous_hash.encode("utf-8") + b"\n" + canonical_bytes).hexdigest()


def read_details(text):
    details = json.loads(text)
    if not isinstance(details, dict) or not all(isinstance(value, str) for value in details.values()):
        raise ValueError("details is not a JSON object of strings")
    # Refuses what UTF-8 cannot carry (a lone surrogate from a \\ud800 escape).
    json_value(details).encode("utf-8")
    return details


def verify(connection):
    """Returns (intact, line) for the log in `connection`."""
    # Events before this sequence were hashed by versions before schema v5 (docs/audit.md).
    stored_millisecond_from = 1
    has_format = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_time_format'"
    ).fetchone()
    if has_format:
        row = connection.execute("SELECT stored_millisecond_from FROM audit_time_format WHERE id = 1").fetchone()
        if row is not None:
            stored_millisecond_from = row[0]

    expected = 1
    previous = GENESIS
    for row in connection.execute("SELECT * FROM audit_event ORDER BY sequence"):
        sequence = row["sequence"]
        try:
            details = read_details(row["details"])
        except (ValueError, TypeError, UnicodeEncodeError) as error:
            return False, "audit log broken at event %d: the event cannot be read (its details were edited): %s" % (sequence, error)
        if sequence != expected:
            if sequence > expected:
                problem = "event(s) %d\u2026%d are missing (removed)" % (expected, sequence - 1)
            else:
                problem = "sequence %d appears where %d was expected (reordered or duplicated)" % (sequence, expected)
            return False, "audit log broken at event %d: %s" % (sequence, problem)
        if row["previous_hash"] != previous:
            return False, "audit log broken at event %d: it does not link to event %d (events removed, inserted or reordered)" % (
                sequence,
                sequence - 1,
            )
        time_text = legacy_at_text if sequence < stored_millisecond_from else at_text
        if event_hash(previous, canonical(row, details, time_text)) != row["hash"]:
            return False, "audit log broken at event %d: its content does not match its hash (the event was edited)" % sequence
        previous = row["hash"]
        expected += 1

    last = expected - 1
    head = connection.execute("SELECT sequence, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        if last == 0:
            return True, "audit log intact: 0 event(s), head %s" % GENESIS
        return False, "audit log broken at event %d: the log has events but no recorded head (the head was removed)" % last
    if head["sequence"] != last or head["hash"] != previous:
        return False, (
            "audit log broken at event %d: the recorded head is event %d, but the log ends at event %d "
            "(events removed from the end, or the head edited)" % (min(last + 1, head["sequence"]), head["sequence"], last)
        )
    return True, "audit log intact: %d event(s), head %s" % (last, previous)


def main(arguments):
    if len(arguments) != 2:
        print("usage: verify-audit-chain.py path/to/greenlight.db", file=sys.stderr)
        return 2
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stderr.reconfigure(encoding="utf-8")
    try:
        connection = sqlite3.connect("file:%s?mode=ro" % urllib.request.pathname2url(arguments[1]), uri=True)
        connection.row_factory = sqlite3.Row
        # Greenlight reads text as UTF-8 and replaces what is not.
        connection.text_factory = lambda data: data.decode("utf-8", "replace")
        intact, line = verify(connection)
    except sqlite3.Error as error:
        print("cannot read the audit log in %s: %s" % (arguments[1], error), file=sys.stderr)
        return 2
    print(line, file=sys.stdout if intact else sys.stderr)
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
