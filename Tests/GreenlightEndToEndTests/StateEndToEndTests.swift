import Foundation
import GRDB
import GreenlightStore
import GreenlightTestSupport
import Testing

/// The state answers to the log, with the real binary: rows edited with the server stopped — a rejection flipped to
/// an approval, a token minted by hand — are refused by the server (a waiting pipeline is never told "approved") and
/// named by `audit verify`.
@Suite("State rows against the log, end to end")
struct StateEndToEndTests {
    @Test("a flipped decision is not given to the pipeline, a minted token does not authenticate, and audit verify names both")
    func editedRows() async throws {
        let deployment = try await Deployment()
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", deployment.database])
            .finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["reject", gate.id, "--comment", "not today"], as: "alice").status == 0)
        #expect(try await deployment.run(["wait", gate.id], as: "ci").status == 1)
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        #expect(try await deployment.audit(["verify"]).status == 0)
        #expect(try await deployment.audit(["query", "--decision", "rejected"]).stdout.contains(gate.id))
        #expect(try await deployment.audit(["query", "--decision", "approved"]).stdout.isEmpty)

        let queue = try DatabaseQueue(path: deployment.database)
        try await queue.write { db in
            try db.execute(sql: "UPDATE gate SET state = 'approved', outcome = 'approved' WHERE id = ?", arguments: [gate.id])
        }
        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 1 && verified.stderr.contains("disagrees with the log"), "\(verified.output)")
        #expect(verified.stderr.contains("state is 'approved' in its row, but 'rejected' in the log"), "\(verified.output)")

        try await deployment.start()
        // The pipeline keeps waiting (a server error is retried), and is never told "approved".
        let waited = try await deployment.run(["wait", gate.id, "--max-wait", "3s"], as: "ci")
        #expect(waited.status == 69, "a flipped decision was given to the pipeline: \(waited.output)")
        #expect(waited.stderr.contains("disagrees with the audit log"), "\(waited.output)")
        let mismatches = try await HTTP.get("\(deployment.url)/v1/audit?action=audit.state_mismatch", token: auditorToken)
        #expect(mismatches.body.contains(gate.id), "\(mismatches.body)")

        // A token row written by hand, with no token.created: refused, and the refusal audited.
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        try await queue.write { db in
            try db.execute(sql: "UPDATE gate SET state = 'rejected', outcome = 'rejected' WHERE id = ?", arguments: [gate.id])
            try db.execute(
                sql:
                    "INSERT INTO token (secret_hash, name, kind, user, services, environments, created_at) VALUES (?, 'minted', 'pipeline', NULL, '[]', '[]', 0)",
                arguments: [TokenSecret.hash("minted-secret")])
        }
        let minted = try await deployment.audit(["verify"])
        #expect(minted.status == 1 && minted.stderr.contains("token 'minted'"), "\(minted.output)")
        try await deployment.start()
        let refused = try await HTTP.get("\(deployment.url)/v1/gates/\(gate.id)", token: "minted-secret")
        #expect(refused.status == 401 && refused.body.contains("not in the audit log"), "\(refused.body)")
        #expect(try await HTTP.get("\(deployment.url)/v1/gates/\(gate.id)", token: deployment.tokens["ci"]).status == 200)
    }
}

/// A person swapped into a pending gate's frozen plan, and a vote deleted: the pipeline is never told the decision, and
/// audit verify names both.
@Suite("Edited plans and votes, end to end")
struct EditedPlanEndToEndTests {
    @Test("mallory swapped into the plan: her approval never reaches the pipeline; a deleted vote is named")
    func swappedApprover() async throws {
        let deployment = try await Deployment()
        let mallory = try await RunningCommand([
            "token", "create", "--name", "mallory", "--kind", "approver", "--user", "mallory", "--database", deployment.database,
        ]).finished()
        let malloryToken = mallory.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await deployment.start()
        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        let queue = try DatabaseQueue(path: deployment.database)
        try await queue.write { db in
            try db.execute(sql: "UPDATE gate SET plan = replace(plan, '\"carol\"', '\"mallory\"') WHERE id = ?", arguments: [gate.id])
        }
        let verified = try await deployment.audit(["verify"])
        #expect(verified.status == 1 && verified.stderr.contains("plan_hash"), "\(verified.output)")
        try await deployment.start()
        _ = try await deployment.run(["approve", gate.id], as: malloryToken)
        let waited = try await deployment.run(["wait", gate.id, "--max-wait", "2s"], as: "ci")
        #expect(waited.status != 0 && waited.stderr.contains("disagrees with the audit log"), "\(waited.output)")
        let breakGlass = try await deployment.run(["break-glass", gate.id, "--reason", "now"], as: malloryToken)
        #expect(breakGlass.status != 0, "\(breakGlass.output)")

        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        try await queue.write { db in
            try db.execute(sql: "UPDATE gate SET plan = replace(plan, '\"mallory\"', '\"carol\"') WHERE id = ?", arguments: [gate.id])
            try db.execute(sql: "DELETE FROM vote WHERE gate_id = ? AND voter = 'alice'", arguments: [gate.id])
        }
        let deleted = try await deployment.audit(["verify"])
        #expect(deleted.status == 1 && deleted.stderr.contains("'alice approve' is in the log but not in its row"), "\(deleted.output)")
    }
}

/// `audit verify` remembers the largest checkpoint it verified per key, and holds the next run to it.
@Suite("What audit verify remembers, end to end")
struct VerifyMemoryEndToEndTests {
    @Test("a log rewritten and signed again fails against the checkpoint verified before; the server's tree is held to it too")
    func remembered() async throws {
        let deployment = try await Deployment()
        let state = deployment.directory.appendingPathComponent("verified.json").path
        let keyFile = deployment.directory.appendingPathComponent("log.key").path
        let checkpoint = deployment.directory.appendingPathComponent("checkpoint").path
        let first = try await deployment.audit(["checkpoint", "--key-file", keyFile, "--origin", "e2e.test/memory", "--output", checkpoint])
        #expect(first.status == 0, "\(first.output)")
        let vkey = try #require(first.stderr.components(separatedBy: "its verifier key: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let verified = try await deployment.audit(["verify", "--checkpoint", checkpoint, "--key", vkey, "--state", state])
        #expect(verified.status == 0, "\(verified.output)")
        #expect((try FileManager.default.attributesOfItem(atPath: state)[.posixPermissions] as? Int) == 0o600)

        // Someone with the database and the key: the log rewritten, its memory of the last checkpoint removed, and a
        // new checkpoint signed over the rewrite. It verifies on its own; not against what was verified before.
        _ = try AuditLogEndToEndTests.rewrite(deployment.database, actorOfSequence: 2, to: "mallory")
        try FileManager.default.removeItem(atPath: keyFile + ".checkpoint")
        let resigned = deployment.directory.appendingPathComponent("resigned").path
        #expect(try await deployment.audit(["checkpoint", "--key-file", keyFile, "--output", resigned]).status == 0)
        let fresh = try await deployment.audit([
            "verify", "--checkpoint", resigned, "--key", vkey, "--state", deployment.directory.appendingPathComponent("other.json").path,
        ])
        #expect(fresh.status == 0, "\(fresh.output)")
        let caught = try await deployment.audit(["verify", "--checkpoint", resigned, "--key", vkey, "--state", state])
        #expect(caught.status == 1 && caught.stderr.contains("no longer begins with the checkpoint"), "\(caught.output)")

        // Online: the server's checkpoint, twice; the second run checks the consistency proof from the first.
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", deployment.database])
            .finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try await deployment.start(environment: ["GREENLIGHT_SIGNING_KEY": keyFile])
        _ = server
        let online = [
            "audit", "verify", "--server", deployment.url, "--key", vkey, "--state", deployment.directory.appendingPathComponent("online.json").path,
        ]
        var once = try await deployment.run(online, as: auditorToken)
        for _ in 0..<50 where once.status != 0 {
            try await Task.sleep(for: .milliseconds(100))
            once = try await deployment.run(online, as: auditorToken)
        }
        #expect(once.status == 0 && once.stdout.contains("verified"), "\(once.output)")
        _ = try await deployment.open(environment: "production")
        var twice = try await deployment.run(online, as: auditorToken)
        for _ in 0..<50 where !twice.stdout.contains("consistent with") {
            try await Task.sleep(for: .milliseconds(100))
            twice = try await deployment.run(online, as: auditorToken)
        }
        #expect(twice.status == 0 && twice.stdout.contains("consistent with the checkpoint of"), "\(twice.output)")
    }
}

/// `audit rotate-key`: a new key of the same name; the old one keeps signing beside it while servers are given it.
@Suite("Rotating the log's key, end to end")
struct KeyRotationEndToEndTests {
    @Test("after a rotation checkpoints carry both signatures, old checkpoints still verify with the old key, and audit checkpoint goes on")
    func rotation() async throws {
        let deployment = try await Deployment()
        let keyFile = deployment.directory.appendingPathComponent("log.key").path
        let old = deployment.directory.appendingPathComponent("old-checkpoint").path
        let first = try await deployment.audit(["checkpoint", "--key-file", keyFile, "--origin", "e2e.test/rotated", "--output", old])
        let oldKey = try #require(first.stderr.components(separatedBy: "its verifier key: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))

        let rotated = try await RunningCommand(["audit", "rotate-key", "--key-file", keyFile]).finished()
        #expect(rotated.status == 0, "\(rotated.output)")
        let newKey = try #require(
            rotated.stdout.split(separator: "\n").first { $0.hasPrefix("new verifier key:") }?.split(separator: " ").last.map(String.init))
        #expect(newKey != oldKey && newKey.hasPrefix("e2e.test/rotated+"))
        let previousFile = try #require(
            rotated.stderr.components(separatedBy: "--previous-signing-key-file ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect((try FileManager.default.attributesOfItem(atPath: previousFile)[.posixPermissions] as? Int) == 0o600)
        #expect(try await deployment.audit(["verify", "--checkpoint", old, "--key", oldKey]).status == 0)
        // audit checkpoint signs with the new key, and still holds the log to the last checkpoint of the old.
        let next = deployment.directory.appendingPathComponent("next-checkpoint").path
        let signed = try await deployment.audit(["checkpoint", "--key-file", keyFile, "--output", next])
        #expect(signed.status == 0, "\(signed.output)")
        #expect(try await deployment.audit(["verify", "--checkpoint", next, "--key", newKey]).status == 0)

        // The server signs with both while it is given the previous key.
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", deployment.database])
            .finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try RunningCommand([
            "serve", "--config", deployment.config, "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "warning",
            "--signing-key-file", keyFile, "--previous-signing-key-file", previousFile,
        ])
        deployment.server = server
        #expect(await server.line(containing: "listening on") != nil)
        var note = ""
        for _ in 0..<50 where note.isEmpty {
            let answer = try await HTTP.get("\(deployment.url)/v1/audit/log/checkpoint", token: auditorToken)
            if answer.status == 200 { note = answer.body } else { try await Task.sleep(for: .milliseconds(100)) }
        }
        let file = deployment.directory.appendingPathComponent("served").path
        try note.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(note.components(separatedBy: "— e2e.test/rotated ").count == 3, "\(note)")
        for key in [oldKey, newKey] {
            let checked = try RepositoryScript.python("verify-checkpoint.py", ["--key", key, "--checkpoint", file])
            #expect(checked.status == 0, "\(checked.output)")
        }
    }
}
