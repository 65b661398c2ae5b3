import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightTransparency
import Testing

/// The export's two forms: JSON lines checked in bulk (the fast path, which reads no JSON) must agree with the line
/// by line reading on every line, good or bad; CSV must keep every value in its cell.
@Suite("Audit exports")
struct AuditExportTests {
    /// `count` events as the log links them, with values that need escaping.
    static func events(_ count: Int) -> [AuditEvent] {
        var previous = AuditChain.genesisHash
        return (1...count).map { sequence in
            let draft = AuditDraft(
                at: Date(timeIntervalSince1970: 1_800_000_000 + Double(sequence) / 7), actor: sequence % 2 == 0 ? "alice" : "pipeline:shop",
                action: sequence % 3 == 0 ? .gateDecided : .voteRecorded, gateID: "g_\(sequence)", service: "shop",
                environment: sequence % 5 == 0 ? nil : "production", artifact: "reg/shop@sha256:\(sequence)",
                details: ["note": "ünï \"q\" \\ \n\t,\"hash\":\"x", "hash": "not the top-level one"])
            let event = AuditChain.link(draft, sequence: Int64(sequence), previousHash: previous)
            previous = event.hash
            return event
        }
    }

    static func bulk(_ lines: [[UInt8]], checkpoint: Checkpoint? = nil) -> Result<String, AuditExportProblem> {
        var verifier = AuditExportVerifier(checkpoint: checkpoint)
        do throws(AuditExportProblem) {
            try verifier.check(lines: lines.map { $0[...] })
            return .success(try verifier.finish())
        } catch {
            return .failure(error)
        }
    }

    static func oneByOne(_ lines: [[UInt8]], checkpoint: Checkpoint? = nil) -> Result<String, AuditExportProblem> {
        var verifier = AuditExportVerifier(checkpoint: checkpoint)
        do throws(AuditExportProblem) {
            for line in lines { try verifier.check(line: line) }
            return .success(try verifier.finish())
        } catch {
            return .failure(error)
        }
    }

    @Test("the bulk check and the line-by-line reading agree, on an intact export and on each kind of damage")
    func pathsAgree() throws {
        let events = Self.events(300)
        let lines = events.map(AuditLeaves.leaf)
        let root = MerkleTree.root(of: lines.map { MerkleTree.leafHash($0) })
        let checkpoint = Checkpoint(origin: "test", size: 300, root: root)
        #expect(try Self.bulk(lines, checkpoint: checkpoint).get() == Self.oneByOne(lines, checkpoint: checkpoint).get())
        #expect(try Self.bulk(lines).get().hasPrefix("export intact: 300 event(s), Merkle root \(root)"))

        var edited = lines
        edited[120] = Array(String(decoding: edited[120], as: UTF8.self).replacingOccurrences(of: "\"shop\"}", with: "\"shoq\"}").utf8)
        var swapped = lines
        swapped.swapAt(40, 41)
        var rehashed = events
        rehashed[200].actor = "mallory"
        rehashed[200].hash = AuditChain.hash(of: rehashed[200])
        let damaged: [(String, [[UInt8]], Checkpoint?)] = [
            ("an edited line", edited, nil), ("two lines swapped", swapped, nil), ("a line removed", Array(lines.dropFirst(5)), nil),
            ("an event rehashed", rehashed.map(AuditLeaves.leaf), nil), ("cut short", Array(lines.prefix(299)), checkpoint),
            ("not JSON", Array(lines.prefix(10)) + [Array("{\"action\":\"x\"".utf8)], nil),
            (
                "reformatted",
                Array(lines.prefix(3)) + [Array(String(decoding: lines[3], as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)], nil
            ),
        ]
        for (what, damage, checkpoint) in damaged {
            let (bulk, single) = (Self.bulk(damage, checkpoint: checkpoint), Self.oneByOne(damage, checkpoint: checkpoint))
            #expect(throws: AuditExportProblem.self, "\(what)") { try bulk.get() }
            #expect("\(bulk)" == "\(single)", "\(what)")
        }
    }

    @Test("CSV quotes commas, quotes and line breaks found in the bytes, and defuses formulas")
    func csvFields() {
        #expect(AuditCSV.field("plain") == "plain")
        #expect(AuditCSV.field("a,b") == "\"a,b\"")
        #expect(AuditCSV.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(AuditCSV.field("line\r\nbreak") == "\"line\r\nbreak\"", "CRLF is one Character, and must still be quoted")
        #expect(AuditCSV.field(",\u{301}") == "\",\u{301}\"", "a comma with a combining mark is still a comma in the bytes")
        #expect(AuditCSV.field("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(AuditCSV.field("@SUM(A1)") == "'@SUM(A1)")
        #expect(AuditCSV.field("-1") == "'-1")
        let row = AuditCSV.row(Self.events(1)[0])
        #expect(row.hasPrefix("1,2027-01-15T08:00:00.142Z,pipeline:shop,vote.recorded,g_1,shop,production,reg/shop@sha256:1,\"{"))
    }
}
