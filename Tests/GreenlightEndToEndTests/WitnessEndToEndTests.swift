import Foundation
import FoundationNetworking
import GreenlightAudit
import GreenlightTestSupport
import GreenlightTransparency
import Testing

/// The witnessed log with the real binaries: a server whose checkpoints two `greenlight witness` processes cosign, its
/// tiles and a gate's proof checked offline, and the fork alarm when its database is rewritten behind its back.
@Suite("Witnessed audit log, end to end")
struct WitnessEndToEndTests {
    /// A running `greenlight witness` and its verifier key.
    struct RunningWitness {
        let process: RunningCommand
        let url: String
        let key: String
    }

    static func witness(_ name: String, log: NoteVerifierKey, in directory: URL) async throws -> RunningWitness {
        let process = try RunningCommand([
            "witness", "--log", log.description, "--name", "e2e.test/\(name)", "--key-file", directory.appendingPathComponent("\(name).key").path,
            "--state", directory.appendingPathComponent("\(name).state").path, "--port", "0",
        ])
        let listening = try #require(await process.line(containing: "listening on http://"), "the witness did not start")
        let key = try #require(await process.line(containing: "verifier key "))
        return RunningWitness(
            process: process, url: try #require(listening.components(separatedBy: "listening on ").last),
            key: try #require(key.components(separatedBy: "verifier key ").last))
    }

    @Test("checkpoints cosigned by two witnesses; tiles and a gate's proof check offline; a rewritten log raises the fork alarm")
    func witnessedLog() async throws {
        let deployment = try await Deployment()
        let directory = deployment.directory
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", deployment.database])
            .finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The log's key, made here so that the witnesses can be told it before the server starts.
        let keyFile = directory.appendingPathComponent("log.key").path
        let logKey = try NoteSignerKey(generatingFor: "e2e.test/log")
        #expect(FileManager.default.createFile(atPath: keyFile, contents: Data(logKey.secretText.utf8), attributes: [.posixPermissions: 0o600]))
        let w1 = try await Self.witness("w1", log: logKey.verifier, in: directory)
        let w2 = try await Self.witness("w2", log: logKey.verifier, in: directory)
        defer {
            w1.process.signal(SIGKILL)
            w2.process.signal(SIGKILL)
        }
        let policy = directory.appendingPathComponent("witnesses.policy").path
        try """
        # both must cosign
        witness one \(w1.key) \(w1.url)
        witness two \(w2.key) \(w2.url)
        group both all one two
        quorum both
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let published = directory.appendingPathComponent("published")
        try FileManager.default.createDirectory(at: published, withIntermediateDirectories: true)
        let serve = [
            "serve", "--config", deployment.config, "--database", deployment.database, "--port", "\(deployment.port)", "--log-level", "warning",
            "--signing-key-file", keyFile, "--witness-policy", policy, "--checkpoint-directory", published.path,
        ]
        let server = try RunningCommand(serve)
        deployment.server = server
        guard await server.line(containing: "published when 2 witness(es) of the policy cosign") != nil else {
            Issue.record("the server did not start: \(await server.finished().output)")
            return
        }

        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)

        // The gate's proof, fetched by the CLI (it waits for a published checkpoint that holds the decision).
        let proofFile = directory.appendingPathComponent("\(gate.id).tlog-proof").path
        let fetched = try await deployment.run(["audit", "proof", gate.id, "--output", proofFile], as: "ci")
        #expect(fetched.status == 0, "\(fetched.output)")
        let proofText = try String(contentsOfFile: proofFile, encoding: .utf8)
        #expect(proofText.hasPrefix("c2sp.org/tlog-proof@v1\nextra "))
        let note = try SignedNote(parsing: try #require(proofText.components(separatedBy: "\n\n").dropFirst().joined(separator: "\n\n").nonEmpty))
        #expect(note.signatures.map(\.keyName) == ["e2e.test/log", "e2e.test/w1", "e2e.test/w2"])

        // Checked offline, with no server: every witness, the policy file, and refusals.
        let verified = try await RunningCommand(
            ["audit", "verify", "--proof", proofFile, "--key", logKey.verifier.description, "--witness", w1.key, "--witness", w2.key]
        ).finished()
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.stdout.contains("gate \(gate.id) approved"), "\(verified.stdout)")
        #expect(verified.stdout.contains("cosigned by e2e.test/w1, e2e.test/w2"), "\(verified.stdout)")
        #expect(
            try await RunningCommand(["audit", "verify", "--proof", proofFile, "--key", logKey.verifier.description, "--witness-policy", policy])
                .finished().status == 0)
        let stranger = try NoteSignerKey(generatingFor: "e2e.test/w3", type: .cosignatureV1).verifier.description
        let unwitnessed = try await RunningCommand([
            "audit", "verify", "--proof", proofFile, "--key", logKey.verifier.description, "--witness", stranger,
        ])
        .finished()
        #expect(unwitnessed.status == 1 && unwitnessed.stderr.contains("not witnessed"), "\(unwitnessed.output)")
        let tampered = directory.appendingPathComponent("tampered.tlog-proof").path
        try Self.tamper(proofText).write(toFile: tampered, atomically: true, encoding: .utf8)
        let refused = try await RunningCommand(["audit", "verify", "--proof", tampered, "--key", logKey.verifier.description]).finished()
        #expect(refused.status == 1 && refused.stderr.contains("not in the log"), "\(refused.output)")

        // The published checkpoint, also in the directory, cosigned, and checked by the independent verifier.
        let served = try await HTTP.get("\(deployment.url)/v1/audit/log/checkpoint", token: auditorToken)
        #expect(served.status == 200)
        let file = published.appendingPathComponent("checkpoint").path
        let independent = try RepositoryScript.python(
            "verify-checkpoint.py", ["--key", logKey.verifier.description, "--checkpoint", file, "--witness", w1.key, "--witness", w2.key])
        #expect(independent.status == 0, "\(independent.output)")
        let offline = try await deployment.audit(["verify", "--checkpoint", file, "--key", logKey.verifier.description, "--witness-policy", policy])
        #expect(offline.status == 0 && offline.stdout.contains("cosigned by one, two"), "\(offline.output)")
        let short = try await deployment.audit(["verify", "--checkpoint", file, "--key", logKey.verifier.description, "--witness", stranger])
        #expect(short.status == 1 && short.stderr.contains("not witnessed"), "\(short.output)")

        // Tiles: the level-0 tile and the entry bundle of the served tree, against the export and the signed root.
        let checkpoint = try Checkpoint(text: try SignedNote(parsing: served.body).text)
        let size = Int(checkpoint.size)
        #expect(size < 256, "the test's log fits one tile")
        let tile = try await HTTP.data("\(deployment.url)/v1/audit/log/tile/0/000.p/\(size)", token: auditorToken)
        #expect(tile.status == 200 && tile.data.count == 32 * size)
        let hashes = stride(from: 0, to: tile.data.count, by: 32).compactMap { TreeHash(bytes: tile.data[$0..<$0 + 32]) }
        #expect(MerkleTree.root(of: hashes) == checkpoint.root)
        let bundle = try await HTTP.data("\(deployment.url)/v1/audit/log/tile/entries/000.p/\(size)", token: auditorToken)
        let entries = try #require(EntryBundle.decode(bundle.data))
        #expect(entries.map { MerkleTree.leafHash($0) } == hashes)
        let export = try await deployment.audit(["export"])
        #expect(entries.map { String(decoding: $0, as: UTF8.self) } == Array(export.stdout.split(separator: "\n").prefix(size).map(String.init)))
        for (path, status) in [
            ("tile/0/000", 404), ("tile/0/000.p/\(size + 1)", 404), ("tile/1/000.p/1", 404), ("tile/0/0", 404), ("tile/x/000", 404),
        ] {
            #expect(try await HTTP.get("\(deployment.url)/v1/audit/log/\(path)", token: auditorToken).status == status, "\(path)")
        }
        #expect(try await HTTP.get("\(deployment.url)/v1/audit/log/tile/0/000.p/1", token: deployment.tokens["alice"]).status == 403)
        // The deploy record, from the log, with the same proof.
        let evidence = try await deployment.run(["audit", "evidence", gate.id], as: auditorToken)
        #expect(evidence.status == 0, "\(evidence.output)")
        let record = try #require(try JSONSerialization.jsonObject(with: Data(evidence.stdout.utf8)) as? [String: Any])
        #expect(record["service"] as? String == "shop" && record["environment"] as? String == "production")
        #expect((record["approvals"] as? [[String: Any]])?.compactMap { $0["by"] as? String } == ["alice", "bob"])
        #expect((record["decision"] as? [String: Any])?["state"] as? String == "approved")
        #expect((record["separation_of_duties"] as? [String: Any])?["held"] as? Bool == true)
        let recordProof = try #require(record["proof"] as? [String: Any], "no proof in \(evidence.stdout)")
        #expect(recordProof["signed_by"] as? [String] == ["e2e.test/log", "e2e.test/w1", "e2e.test/w2"])
        #expect(try await deployment.run(["audit", "evidence", gate.id], as: "alice").status == 77)

        #expect(try await HTTP.get("\(deployment.url)/readyz").status == 200)

        // The database rewritten with the server stopped: the chain verifies, but the witnesses saw another tree.
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        _ = try AuditLogEndToEndTests.rewrite(deployment.database, actorOfSequence: 2, to: "mallory")
        deployment.server = try RunningCommand(serve)
        #expect(await deployment.server?.line(containing: "listening on") != nil)
        var ready = 200
        for _ in 0..<100 where ready == 200 {
            ready = try await HTTP.get("\(deployment.url)/readyz").status
            if ready == 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        let readiness = try await HTTP.get("\(deployment.url)/readyz")
        #expect(readiness.status == 503 && readiness.body.contains("fork_alarm"), "\(readiness.body)")
        #expect(readiness.body.contains("the log was rewritten"), "\(readiness.body)")
        let alarms = try await HTTP.get("\(deployment.url)/v1/audit?action=audit.witness_conflict", token: auditorToken)
        #expect(alarms.body.contains("\"reason\":\"inconsistent\""), "\(alarms.body)")
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        let audit = try await deployment.audit(["verify"])
        #expect(audit.status == 1 && audit.stderr.contains("fork alarm"), "\(audit.output)")
    }

    @Test(
        "on PostgreSQL: a witnessed checkpoint, a gate's proof checked offline, its tile, and a flipped decision refused",
        .enabled(if: PostgresDatabase.server != nil, "GREENLIGHT_TEST_POSTGRES_URL names no server"))
    func onPostgres() async throws {
        let database = try await PostgresDatabase.create()
        let deployment = try await Deployment(database: database)
        let directory = deployment.directory
        let auditor = try await RunningCommand(["token", "create", "--name", "audit", "--kind", "auditor", "--database", database]).finished()
        let auditorToken = auditor.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let keyFile = directory.appendingPathComponent("log.key").path
        let logKey = try NoteSignerKey(generatingFor: "e2e.test/pg")
        #expect(FileManager.default.createFile(atPath: keyFile, contents: Data(logKey.secretText.utf8), attributes: [.posixPermissions: 0o600]))
        let witness = try await Self.witness("pgw", log: logKey.verifier, in: directory)
        defer { witness.process.signal(SIGKILL) }
        let policy = directory.appendingPathComponent("witnesses.policy").path
        try "witness pgw \(witness.key) \(witness.url)\nquorum pgw\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let server = try RunningCommand([
            "serve", "--config", deployment.config, "--database", database, "--port", "\(deployment.port)", "--log-level", "warning",
            "--signing-key-file", keyFile, "--witness-policy", policy,
        ])
        deployment.server = server
        #expect(await server.line(containing: "listening on") != nil)

        let gate = try await deployment.open(environment: "production")
        #expect(try await deployment.run(["approve", gate.id], as: "alice").status == 0)
        #expect(try await deployment.run(["approve", gate.id], as: "bob").status == 0)
        let proofFile = directory.appendingPathComponent("pg.tlog-proof").path
        let fetched = try await deployment.run(["audit", "proof", gate.id, "--output", proofFile], as: "ci")
        #expect(fetched.status == 0, "\(fetched.output)")
        let verified = try await RunningCommand(
            ["audit", "verify", "--proof", proofFile, "--key", logKey.verifier.description, "--witness", witness.key]
        ).finished()
        #expect(verified.status == 0 && verified.stdout.contains("gate \(gate.id) approved"), "\(verified.output)")

        let served = try await HTTP.get("\(deployment.url)/v1/audit/log/checkpoint", token: auditorToken)
        let checkpoint = try Checkpoint(text: try SignedNote(parsing: served.body).text)
        let tile = try await HTTP.data("\(deployment.url)/v1/audit/log/tile/0/000.p/\(checkpoint.size)", token: auditorToken)
        let hashes = stride(from: 0, to: tile.data.count, by: 32).compactMap { TreeHash(bytes: tile.data[$0..<$0 + 32]) }
        #expect(MerkleTree.root(of: hashes) == checkpoint.root)
        #expect(try await deployment.audit(["verify"]).status == 0)

        // The decision flipped in PostgreSQL: the pipeline is not told it, and audit verify names it.
        deployment.server?.signal(SIGTERM)
        _ = await deployment.server?.finished()
        try PostgresDatabase.psql("UPDATE gate SET state = 'rejected', outcome = 'rejected' WHERE id = '\(gate.id)'", on: database)
        let flipped = try await deployment.audit(["verify"])
        #expect(flipped.status == 1 && flipped.stderr.contains("disagrees with the log"), "\(flipped.output)")
        try await deployment.start(environment: ["GREENLIGHT_SIGNING_KEY": keyFile])
        let waited = try await deployment.run(["wait", gate.id, "--max-wait", "2s"], as: "ci")
        #expect(waited.status == 69 && waited.stderr.contains("disagrees with the audit log"), "\(waited.output)")
    }

    /// The proof with its decision turned into a rejection, base64 and all: what someone editing the evidence file
    /// would do.
    static func tamper(_ proof: String) throws -> String {
        var lines = proof.components(separatedBy: "\n")
        let extra = try #require(lines.firstIndex { $0.hasPrefix("extra ") })
        let event = try #require(Data(base64Encoded: String(lines[extra].dropFirst(6))))
        let original = String(decoding: event, as: UTF8.self)
        let edited = original.replacingOccurrences(of: "\"state\":\"approved\"", with: "\"state\":\"rejected\"")
        #expect(edited != original, "the decision event has no state: \(original)")
        lines[extra] = "extra " + Data(edited.utf8).base64EncodedString()
        return lines.joined(separator: "\n")
    }
}

extension HTTP {
    static func data(_ url: String, token: String) async throws -> (status: Int, data: Data) {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.timeoutInterval = 30
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        return (try #require(response as? HTTPURLResponse).statusCode, data)
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
