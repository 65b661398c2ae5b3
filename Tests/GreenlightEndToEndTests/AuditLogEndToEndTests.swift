import Foundation
import GRDB
import GreenlightAudit
import GreenlightTestSupport
import GreenlightTransparency
import Testing

/// The audit log as a Merkle log, with the real binary: `audit checkpoint` signs its root, `audit export` writes its
/// leaves, `audit verify` checks either against the checkpoint — and catches what the hash chain alone cannot: a
/// whole log rewritten, every hash recomputed, by someone with the database in hand.
@Suite("Audit checkpoints and exports, end to end")
struct AuditLogEndToEndTests {
    @Test("a checkpoint verifies against the database and its export, also by an independent verifier; a rewritten log does not")
    func checkpointAndRewrite() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)
        server.signal(SIGTERM)
        _ = await server.finished()

        let file = { (name: String) in deployment.directory.appendingPathComponent(name).path }
        let signed = try await deployment.audit([
            "checkpoint", "--key-file", file("log.key"), "--origin", "e2e.test/audit", "--output", file("checkpoint"),
        ])
        #expect(signed.status == 0, "\(signed.output)")
        let vkey = try #require(signed.stderr.components(separatedBy: "its verifier key: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(vkey.hasPrefix("e2e.test/audit+"), "\(signed.output)")
        let mode = try FileManager.default.attributesOfItem(atPath: file("log.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600, "the signing key file must be the owner's alone")
        #expect(!signed.output.contains("PRIVATE+KEY"), "the signing key must never be printed")
        let again = try await deployment.audit(["checkpoint", "--key-file", file("log.key")])
        #expect(again.status == 0, "the same log signed again extends the last checkpoint: \(again.output)")
        #expect(again.stdout == (try String(contentsOfFile: file("log.key.checkpoint"), encoding: .utf8)))

        let exported = try await deployment.audit(["export", "--output", file("export.jsonl")])
        #expect(exported.status == 0, "\(exported.output)")
        let lines = try String(contentsOfFile: file("export.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 4, "gate opened, two votes, decided")
        #expect(exported.stderr.contains("exported \(lines.count) event(s)"))

        let offline = try await RunningCommand([
            "audit", "verify", "--export", file("export.jsonl"), "--checkpoint", file("checkpoint"), "--key", vkey,
        ]).finished()
        #expect(offline.status == 0, "\(offline.output)")
        #expect(offline.stdout.contains("are the ones the checkpoint of e2e.test/audit signed"), "\(offline.output)")
        let online = try await deployment.audit(["verify", "--checkpoint", file("checkpoint"), "--key", vkey])
        #expect(online.status == 0, "\(online.output)")
        #expect(online.stdout.contains("Merkle root at \(lines.count) event(s) is the one the checkpoint"), "\(online.output)")
        let independent = try Self.python(["--key", vkey, "--checkpoint", file("checkpoint"), "--leaves", file("export.jsonl")])
        #expect(independent.status == 0, "\(independent.output)")

        let wrongKey = try await RunningCommand([
            "audit", "verify", "--export", file("export.jsonl"), "--checkpoint", file("checkpoint"), "--key", "e2e.test/audit+00000000+AQ==",
        ]).finished()
        #expect(wrongKey.status != 0, "\(wrongKey.output)")

        // Rewrite the log as its operator could: the first vote's actor changed, and every hash after it recomputed,
        // the head too. The chain alone now says "intact"; the checkpoint does not.
        _ = try Self.rewrite(deployment.database, actorOfSequence: 2, to: "mallory")
        let chain = try await deployment.audit(["verify"])
        #expect(chain.status == 0 && chain.stdout.contains("audit log intact"), "the rewrite must fool the chain: \(chain.output)")
        let resigned = try await deployment.audit(["checkpoint", "--key-file", file("log.key")])
        #expect(resigned.status == 1, "the key must not sign a second history: \(resigned.output)")
        #expect(resigned.stderr.contains("are not the ones this key signed before"), "\(resigned.output)")
        let caught = try await deployment.audit(["verify", "--checkpoint", file("checkpoint"), "--key", vkey])
        #expect(caught.status == 1, "\(caught.output)")
        #expect(caught.stderr.contains("the log was rewritten"), "\(caught.output)")

        let rewritten = try await deployment.audit(["export", "--output", file("rewritten.jsonl")])
        #expect(rewritten.status == 0)
        let offlineCaught = try await RunningCommand([
            "audit", "verify", "--export", file("rewritten.jsonl"), "--checkpoint", file("checkpoint"), "--key", vkey,
        ]).finished()
        #expect(offlineCaught.status == 1, "\(offlineCaught.output)")
        #expect(offlineCaught.stderr.contains("the log was rewritten"), "\(offlineCaught.output)")
        #expect(try Self.python(["--key", vkey, "--checkpoint", file("checkpoint"), "--leaves", file("rewritten.jsonl")]).status == 1)

        // A log that fails its own check is not signed.
        try await DatabaseQueue(path: deployment.database).write { db in try db.execute(sql: "UPDATE audit_event SET actor = 'x' WHERE sequence = 1")
        }
        let refusedToSign = try await deployment.audit(["checkpoint", "--key-file", file("log.key")])
        #expect(refusedToSign.status == 1, "\(refusedToSign.output)")
        #expect(refusedToSign.stderr.contains("not signing it"), "\(refusedToSign.output)")

        // An export edited by hand, its hashes left alone, is named at the edited line.
        let aliceLine = try #require(lines.firstIndex { $0.contains(#""actor":"alice""#) }) + 1
        var text = try String(contentsOfFile: file("export.jsonl"), encoding: .utf8)
        text = text.replacingOccurrences(of: #""actor":"alice""#, with: #""actor":"carol""#)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file("edited.jsonl")))
        let named = try await RunningCommand(["audit", "verify", "--export", file("edited.jsonl")]).finished()
        #expect(named.status == 1, "\(named.output)")
        #expect(named.stderr.contains("line \(aliceLine): event \(aliceLine) does not match its hash"), "\(named.output)")
        // Two lines swapped.
        var swapped = lines.map(String.init)
        swapped.swapAt(1, 2)
        try Data((swapped.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file("swapped.jsonl")))
        let reordered = try await RunningCommand(["audit", "verify", "--export", file("swapped.jsonl")]).finished()
        #expect(reordered.status == 1)
        #expect(reordered.stderr.contains("export broken at line 2"), "\(reordered.output)")
    }

    @Test("export as CSV quotes what needs quoting; flags that contradict each other are refused")
    func csvAndUsage() async throws {
        let deployment = try await Deployment()
        let server = try await deployment.start()
        _ = try await deployment.open(environment: "production")
        server.signal(SIGTERM)
        _ = await server.finished()
        let csv = try await deployment.audit(["export", "--format", "csv"])
        #expect(csv.status == 0, "\(csv.output)")
        let rows = csv.stdout.split(separator: "\n")
        #expect(rows.first == "sequence,at,actor,action,gate_id,service,environment,artifact,details,previous_hash,hash")
        #expect(rows.dropFirst().allSatisfy { $0.first?.isNumber == true })
        #expect(csv.stdout.contains(#""{"#), "details, a JSON object with commas, are quoted")

        let noKey = try await deployment.audit(["verify", "--checkpoint", "/nonexistent"])
        #expect(noKey.status == 64, "\(noKey.output)")
        #expect(noKey.stderr.contains("--checkpoint needs --key"))
        let both = try await RunningCommand(["audit", "verify", "--export", "x", "--database", deployment.database]).finished()
        #expect(both.status == 64)

        // A mangled GREENLIGHT_SIGNING_KEY is refused without being quoted back: it may be the key itself.
        for mangled in ["\"PRIVATE+KEY+sekrit+00000000+AQ==\"", "sekritvalue"] {
            let refused = try await RunningCommand(
                ["audit", "checkpoint", "--database", deployment.database], environment: ["GREENLIGHT_SIGNING_KEY": mangled]
            ).finished()
            #expect(refused.status == 64, "\(refused.output)")
            #expect(refused.stderr.contains("GREENLIGHT_SIGNING_KEY"), "\(refused.output)")
            #expect(!refused.output.contains("sekrit"), "the value must not be printed: \(refused.output)")
        }
    }

    @Test("the server signs a checkpoint of the log as events arrive, served to auditors and verifiable offline")
    func serverCheckpoints() async throws {
        let deployment = try await Deployment()
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", deployment.database])
            .finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyFile = deployment.directory.appendingPathComponent("server.key").path
        let server = try RunningCommand(
            [
                "serve", "--config", deployment.config, "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "warning",
                "--signing-key-file", keyFile, "--log-origin", "e2e.test/server",
            ])
        deployment.server = server
        let banner = try #require(await server.line(containing: "verifier key "), "the server printed no verifier key")
        let vkey = try #require(banner.components(separatedBy: "verifier key ").last)
        #expect(vkey.hasPrefix("e2e.test/server+"))
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)

        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)
        let events = try await HTTP.get("\(deployment.url)/v1/audit", token: auditorToken)
        let count = try #require(try JSONSerialization.jsonObject(with: Data(events.body.utf8)) as? [String: Any])["events"] as? [Any]
        // Signed within about a second of the last event: asked for again until then, for at most 10 s.
        var note = ""
        for _ in 0..<100 {
            let answer = try await HTTP.get("\(deployment.url)/v1/audit/log/checkpoint", token: auditorToken)
            if answer.status == 200, answer.body.split(separator: "\n").dropFirst().first == "\(count?.count ?? -1)" {
                note = answer.body
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!note.isEmpty, "no checkpoint of the \(count?.count ?? -1) events within 10 s")
        #expect(try await HTTP.get("\(deployment.url)/v1/audit/log/checkpoint", token: deployment.tokens["alice"]).status == 403)

        // Proofs from the server, checked here against the signed root and the export's leaves.
        let lines = note.split(separator: "\n")
        let (size, root) = (try #require(UInt64(lines[1])), try #require(TreeHash(base64: lines[2])))
        let export = try await deployment.audit(["export"])
        let leaves = export.stdout.split(separator: "\n").map { MerkleTree.leafHash(Array($0.utf8)) }
        #expect(UInt64(leaves.count) >= size)
        for index in [0, size - 1] {
            let answer = try await HTTP.get("\(deployment.url)/v1/audit/proof/inclusion?index=\(index)&size=\(size)", token: auditorToken)
            #expect(answer.status == 200, "\(answer.body)")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            let path = try #require(body["audit_path"] as? [String]).compactMap { TreeHash(base64: $0) }
            try MerkleTree.verifyInclusion(index: index, size: size, leafHash: leaves[Int(index)], proof: path, root: root)
        }
        let consistency = try await HTTP.get("\(deployment.url)/v1/audit/proof/consistency?from=1&to=\(size)", token: auditorToken)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(consistency.body.utf8)) as? [String: Any])
        let proof = try #require(body["consistency"] as? [String]).compactMap { TreeHash(base64: $0) }
        try MerkleTree.verifyConsistency(from: 1, to: size, proof: proof, fromRoot: leaves[0], toRoot: root)
        for (query, status) in [
            ("inclusion?index=\(size)&size=\(size)", 400), ("inclusion?index=0&size=\(size + 1000)", 404), ("inclusion?index=0", 400),
            ("inclusion?index=0&size=1&extra=1", 400), ("inclusion?index=-1&size=1", 400), ("consistency?from=3&to=2", 400),
            ("inclusion?index=0&size=99999999999999999999", 400),
        ] {
            let answer = try await HTTP.get("\(deployment.url)/v1/audit/proof/\(query)", token: auditorToken)
            #expect(answer.status == status, "\(query): \(answer.body)")
        }
        server.signal(SIGTERM)
        _ = await server.finished()

        let file = deployment.directory.appendingPathComponent("served-checkpoint").path
        try Data(note.utf8).write(to: URL(fileURLWithPath: file))
        let verified = try await deployment.audit(["verify", "--checkpoint", file, "--key", vkey])
        #expect(verified.status == 0, "\(verified.output)")
    }

    /// Changes the actor of event `sequence` and recomputes every hash from it on, and the head: what someone who can
    /// write the database can do to the hash chain. Returns `sequence`.
    static func rewrite(_ database: String, actorOfSequence sequence: Int64, to actor: String) throws -> Int64 {
        let queue = try DatabaseQueue(path: database)
        try queue.write { db in
            var previous =
                try String.fetchOne(db, sql: "SELECT hash FROM audit_event WHERE sequence = ?", arguments: [sequence - 1]) ?? AuditChain.genesisHash
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit_event WHERE sequence >= ? ORDER BY sequence", arguments: [sequence]) {
                let details = try JSONDecoder().decode([String: String].self, from: Data((row["details"] as String).utf8))
                var event = AuditEvent(
                    sequence: row["sequence"], at: Date(timeIntervalSince1970: Double(row["at"] as Int64) / 1000), actor: row["actor"],
                    action: row["action"], gateID: row["gate_id"], service: row["service"], environment: row["environment"],
                    artifact: row["artifact"], details: details, previousHash: previous, hash: "")
                if event.sequence == sequence { event.actor = actor }
                event.hash = AuditChain.hash(of: event)
                try db.execute(
                    sql: "UPDATE audit_event SET actor = ?, previous_hash = ?, hash = ? WHERE sequence = ?",
                    arguments: [event.actor, event.previousHash, event.hash, event.sequence])
                try db.execute(sql: "UPDATE audit_head SET hash = ? WHERE sequence = ?", arguments: [event.hash, event.sequence])
                previous = event.hash
            }
        }
        return sequence
    }

    /// scripts/verify-checkpoint.py, the independent verifier.
    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try RepositoryScript.python("verify-checkpoint.py", arguments)
    }
}
