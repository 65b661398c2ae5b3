import ArgumentParser
import Foundation
import GreenlightAudit
import GreenlightClient
import GreenlightCore
import GreenlightStore
import GreenlightTransparency

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify, export, sign and read the audit log, straight from the store.",
        subcommands: [Verify.self, Export.self, Checkpoint.self, RotateKey.self, Proof.self, Evidence.self, Query.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log: every link of its chain, and its Merkle tree against a signed checkpoint.",
            discussion: """
                With --database (or GREENLIGHT_DATABASE_URL): the stored log. With --export: a file written by \
                'audit export --format jsonl', with no database or server at all. Either way, --checkpoint FILE and \
                --key VKEY also check that the log's first events are the ones the checkpoint signed (nothing edited, \
                removed, reordered or cut off since). Exits 0 when everything checks; 1 naming the first event that \
                does not.

                With --proof FILE (a gate's .tlog-proof, from 'audit proof'): checks that gate's decision with no \
                database and no server: the log's signature (--key), the witnesses' cosignatures (each --witness, or \
                the quorum of --witness-policy), and the decision event's inclusion in the checkpoint's tree.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @Option(help: ArgumentHelp("An export (audit export --format jsonl) to verify instead of a database.", valueName: "file"))
        var export: String?
        @Option(help: ArgumentHelp("A signed checkpoint the log must match (a file, as 'audit checkpoint' writes it).", valueName: "file"))
        var checkpoint: String?
        @Option(help: ArgumentHelp("The log's verifier key, or a file holding it: required with --checkpoint.", valueName: "vkey"))
        var key: String?
        @Option(help: ArgumentHelp("A gate's decision proof (.tlog-proof, from 'audit proof') to check offline.", valueName: "file"))
        var proof: String?
        @Option(
            name: .customLong("witness"),
            help: ArgumentHelp(
                "A witness's verifier key (or its file) that must have cosigned the proof's checkpoint; repeat for several.", valueName: "vkey"))
        var witnesses: [String] = []
        @Option(help: ArgumentHelp("A C2SP tlog-policy file: the witnesses and the quorum the proof's checkpoint must meet.", valueName: "file"))
        var witnessPolicy: String?
        @OptionGroup var server: ServerOptions
        @Option(
            help: ArgumentHelp(
                "Where the largest checkpoint verified per key is kept, to check the next run against (default: GREENLIGHT_AUDIT_STATE, else ~/.local/state/greenlight/checkpoints.json).",
                valueName: "file"))
        var state: String?

        func validate() throws {
            if proof != nil {
                guard key != nil else { throw ValidationError("--proof needs --key: the log's verifier key") }
                guard checkpoint == nil, export == nil, database.database == nil else {
                    throw ValidationError("--proof is checked on its own: leave out --checkpoint, --export and --database")
                }
                if !witnesses.isEmpty, witnessPolicy != nil { throw ValidationError("give --witness keys or a --witness-policy, not both") }
                return
            }
            if server.server != nil {
                guard key != nil else { throw ValidationError("--server needs --key: the log's verifier key") }
                guard checkpoint == nil, export == nil, database.database == nil else {
                    throw ValidationError("--server checks the server's own checkpoint: leave out --checkpoint, --export and --database")
                }
                return
            }
            if !witnesses.isEmpty || witnessPolicy != nil, checkpoint == nil {
                throw ValidationError("--witness and --witness-policy are for checking the cosignatures of a --checkpoint, a --proof or a --server")
            }
            if !witnesses.isEmpty, witnessPolicy != nil { throw ValidationError("give --witness keys or a --witness-policy, not both") }
            if checkpoint != nil, key == nil {
                throw ValidationError("--checkpoint needs --key: a checkpoint proves nothing unless its signature is checked")
            }
            if key != nil, checkpoint == nil { throw ValidationError("--key is for checking a --checkpoint; give one") }
            if export != nil, database.database != nil { throw ValidationError("--export and --database name two logs; verify one") }
        }

        func run() async throws {
            if let proof { return try verify(proof: proof) }
            if server.server != nil { return try await verifyOnline() }
            let signed = try checkpoint.map { try SignedCheckpoint.read($0, key: key ?? "") }
            if let checkpoint, !witnesses.isEmpty || witnessPolicy != nil { print(try cosigners(of: checkpoint)) }
            var memory = try signed.map { _ in try VerifiedCheckpoints(path: state) }
            // The largest checkpoint verified before under this key: the log must still begin with it too.
            var remembered: SignedCheckpoint?
            if let signed, let last = memory?.last(for: signed.key), last.size != signed.checkpoint.size || last.root != signed.checkpoint.root {
                remembered = SignedCheckpoint(
                    checkpoint: GreenlightTransparency.Checkpoint(origin: signed.checkpoint.origin, size: last.size, root: last.root), key: signed.key
                )
            }
            let earlier = remembered
            if let export {
                let verdict = try ExportVerifier.verify(path: export, against: signed)
                print(verdict)
                if let earlier, let at = memory?.last(for: earlier.key)?.at {
                    printError("checking against the checkpoint of \(earlier.checkpoint.size) event(s) verified at \(at) as well")
                    print(try ExportVerifier.verify(path: export, against: earlier))
                }
                if let signed { try memory?.remember(signed.checkpoint, key: signed.key) }
                return
            }
            let store = try await database.openExistingStore()
            let size = signed?.checkpoint.size
            let (verdict, tree, earlierRoot, alarm, replay) = try await store.whileRunning {
                let verdict = try await store.verifyAudit()
                // A witness's refusal recorded in the log: the chain may be whole and still not the one witnessed.
                let alarm = try await store.auditEvents(AuditQuery(action: AuditAction.witnessConflict.rawValue, limit: 1)).first
                let replay = verdict.isIntact ? try await RowReplay.firstDisagreement(in: store) : (problem: nil, gates: 0, tokens: 0)
                guard let size, verdict.isIntact else { return (verdict, AuditTreeBuilder?.none, TreeHash?.none, alarm, replay) }
                // The root at the checkpoint verified before is taken on the way, in the same pass, when that one is the
                // smaller (as it is unless this checkpoint is an older one).
                guard let earlier, earlier.checkpoint.size > size else {
                    let (tree, root) = try await AuditEvents.tree(of: store, upTo: size, rootAt: earlier?.checkpoint.size)
                    return (verdict, tree, root, alarm, replay)
                }
                let longer = try await AuditEvents.tree(of: store, upTo: earlier.checkpoint.size)
                let root = longer.size == earlier.checkpoint.size ? longer.root : nil
                return (verdict, try await AuditEvents.tree(of: store, upTo: size), root, alarm, replay)
            }
            guard verdict.isIntact else {
                printError(verdict.description)
                throw ExitCode(1)
            }
            if let alarm {
                printError(
                    "fork alarm: event \(alarm.sequence) (\(Timestamp.format(alarm.at))) records that a witness refused this log: \(alarm.details["message"] ?? "")"
                )
                throw ExitCode(1)
            }
            if let problem = replay.problem {
                printError("the stored state disagrees with the log: \(problem)")
                throw ExitCode(1)
            }
            print(verdict.description)
            print("\(replay.gates) gate(s) and \(replay.tokens) token(s) agree with the log")
            if let signed, let tree { print(try signed.matches(tree)) }
            if let earlier {
                let at = memory?.last(for: earlier.key)?.at ?? "?"
                guard earlierRoot == earlier.checkpoint.root else {
                    printError(
                        "the log no longer begins with the checkpoint of \(earlier.checkpoint.size) event(s) verified at \(at) (\(memory?.path ?? "")): it was rewritten or cut since"
                    )
                    throw ExitCode(1)
                }
                print("consistent with the checkpoint of \(earlier.checkpoint.size) event(s) verified at \(at)")
            }
            if let signed { try memory?.remember(signed.checkpoint, key: signed.key) }
        }

        /// `--server`: the server's published checkpoint, its signature and cosignatures, and its consistency with the
        /// largest one verified before.
        func verifyOnline() async throws {
            guard let key else { throw ValidationError("--server needs --key: the log's verifier key") }
            let verifier = try SignedCheckpoint.verifier(key, what: "--key")
            let client = try server.client()
            let text: String
            do throws(ClientError) { text = try await client.checkpoint() } catch { throw Exit.fail(error, server: server.resolvedServer) }
            let note: SignedNote
            let current: GreenlightTransparency.Checkpoint
            do {
                note = try SignedNote(parsing: text)
                _ = try note.open(with: [verifier])
                current = try GreenlightTransparency.Checkpoint(text: note.text)
                guard current.origin == verifier.name else {
                    throw NoteError.badCheckpoint("it is of '\(current.origin)', the key of '\(verifier.name)'")
                }
            } catch {
                printError("the server's checkpoint: \(error)")
                throw ExitCode(1)
            }
            let policy = try witnessPolicyGiven()
            let cosigners: Set<String>
            do { cosigners = try policy.cosigners(of: note) } catch {
                printError("the server's checkpoint: \(error)")
                throw ExitCode(1)
            }
            guard policy.isSatisfied(byWitnessesNamed: cosigners) else {
                printError(
                    "the server's checkpoint is not cosigned by the witness quorum (cosigned by \(cosigners.sorted().joined(separator: ", ")))")
                throw ExitCode(1)
            }
            var memory = try VerifiedCheckpoints(path: state)
            if let last = memory.last(for: verifier) {
                guard last.size <= current.size else {
                    printError(
                        "the server shows a tree of \(current.size) event(s), smaller than the \(last.size) verified at \(last.at): the log was rewound"
                    )
                    throw ExitCode(1)
                }
                let hashes: [String]
                do throws(ClientError) { hashes = try await client.consistencyProof(from: last.size, to: current.size) } catch {
                    throw Exit.fail(error, server: server.resolvedServer)
                }
                do {
                    try MerkleTree.verifyConsistency(
                        from: last.size, to: current.size, proof: hashes.compactMap { TreeHash(base64: $0) }, fromRoot: last.root,
                        toRoot: current.root)
                } catch {
                    printError("the server's tree of \(current.size) does not extend the tree of \(last.size) verified at \(last.at): \(error)")
                    throw ExitCode(1)
                }
                print("consistent with the checkpoint of \(last.size) event(s) verified at \(last.at)")
            }
            try memory.remember(current, key: verifier)
            let witnessed = cosigners.isEmpty ? "" : ", cosigned by \(cosigners.sorted().joined(separator: ", "))"
            print("checkpoint of \(current.origin) at \(current.size) event(s) verified (key \(verifier))\(witnessed)")
        }
    }

    struct Proof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a decided gate's proof (.tlog-proof) from the server, for 'audit verify --proof' anywhere.",
            discussion: """
                The proof is a C2SP tlog-proof: the gate's gate.decided event, its inclusion proof, and the latest \
                checkpoint the log signed and its witnesses cosigned. Keep it with the deploy's record: it shows who \
                decided, with no server and no database. Waits up to 30 seconds for a just-decided gate's event to be \
                in a published checkpoint.
                """
        )

        @Argument(help: "The gate's id (g_…).") var gate: String
        @OptionGroup var server: ServerOptions
        @Option(help: ArgumentHelp("Write to this file (created 0600, not over an existing one) instead of standard output.", valueName: "file"))
        var output: String?

        func run() async throws {
            try await PublishedEvidence.fetch(server, to: output) { client throws(ClientError) in Array(try await client.gateProof(gate).utf8) }
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Replace the log's signing key with a new one of the same name, keeping the old one beside it.",
            discussion: """
                The old key moves to KEY-FILE.<key ID>.previous. Restart every server with \
                --previous-signing-key-file naming it: checkpoints and attestations are then signed by both keys, so \
                verifiers and witnesses that know only the old key keep accepting them. Hand out the new verifier key, \
                give it to the witnesses, and drop the old key once they all have it. Checkpoints signed before stay \
                verifiable with the old verifier key, which is printed too.
                """
        )

        @Option(help: ArgumentHelp("The key file to rotate.", valueName: "path")) var keyFile: String

        func run() throws {
            let (previous, previousFile, current) = try SigningKeyOptions.rotate(keyFile: keyFile)
            print("new verifier key:      \(current.verifier)")
            print("previous verifier key: \(previous.verifier) (its key is now in \(previousFile))")
            printError("restart each server with --signing-key-file \(keyFile) --previous-signing-key-file \(previousFile)")
        }
    }

    struct Evidence: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a gate's deploy record as one JSON document, from the server (an auditor token).",
            discussion: """
                Who triggered it, what (service, environment, artifact, commit), when, who approved or rejected under \
                which policy hash, tier and rule, whether separation of duties held, every event's sequence, and the \
                decision's tlog-proof (checked with 'audit verify --proof'). Built from the audit log, not the gate's \
                row. The proof is null until the decision is in a published checkpoint.
                """
        )

        @Argument(help: "The gate's id (g_…).") var gate: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let client = try server.client()
            do throws(ClientError) {
                let document = try await client.evidence(gate)
                FileHandle.standardOutput.write(document + Data("\n".utf8))
            } catch {
                throw Exit.fail(error, server: server.resolvedServer)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole audit log, oldest first, for an auditor or an offline 'audit verify --export'.",
            discussion: """
                jsonl: one event a line, each line exactly the bytes of the event's leaf in the Merkle log \
                (docs/audit.md), so the file's tree root can be checked against a signed checkpoint. csv: the same \
                fields as columns, for spreadsheets (RFC 4180 quoting; values are written as stored).
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case jsonl, csv
        }

        @OptionGroup var database: DatabaseOptions
        @Option(help: "jsonl or csv.") var format = Format.jsonl
        @Option(help: ArgumentHelp("Write to this file (created 0600, not over an existing one) instead of standard output.", valueName: "file"))
        var output: String?

        func run() async throws {
            let store = try await database.openExistingStore()
            let (sink, format) = (try OutputFile(output), format)
            if format == .csv { try sink.write(Array((AuditCSV.header + "\n").utf8)) }
            let count = try await store.whileRunning {
                try await AuditEvents.forEach(in: store) { events in
                    var bytes: [UInt8] = []
                    for event in events {
                        switch format {
                        case .jsonl: bytes += AuditLeaves.leaf(of: event)
                        case .csv: bytes += Array(AuditCSV.row(event).utf8)
                        }
                        bytes.append(0x0A)
                    }
                    try sink.write(bytes)
                }
            }
            try sink.close()
            if output != nil { printError("exported \(count) event(s)") }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a checkpoint of the audit log: its size and Merkle root, as a C2SP signed note.",
            discussion: """
                Publish it somewhere the database's operators cannot rewrite (another system, a ticket, a witness): \
                'audit verify --checkpoint FILE --key VKEY' then proves that the log still begins with the events it \
                signed. The verifier key is printed on standard error when the key is made. The last checkpoint signed \
                is kept beside the key (KEY-FILE.checkpoint), and a log that no longer begins with it is not signed.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var signing: SigningKeyOptions
        @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var output: String?

        func run() async throws {
            let store = try await database.openExistingStore()
            let location = try database.location()
            let key = try signing.load(for: location)
            // The last checkpoint this key signed: the log must still begin with it. Signing a tree that does not
            // extend it would put two histories under one key (tlog-checkpoint forbids it), and hide a rewrite.
            let lastPath =
                (SigningKeyOptions.keyFile(given: signing.keyFile, for: location) ?? SigningKeyOptions.defaultName) + ".checkpoint"
            let last =
                FileManager.default.fileExists(atPath: lastPath) ? try SignedCheckpoint.read(lastPath, key: key.verifier.description) : nil
            // A log that fails its own check is not signed: a checkpoint would vouch for the damage.
            let (verdict, tree, rootAtLast) = try await store.whileRunning {
                let verdict = try await store.verifyAudit()
                guard verdict.isIntact else { return (verdict, AuditTreeBuilder(), TreeHash?.none) }
                let (tree, root) = try await AuditEvents.tree(of: store, upTo: nil, rootAt: last?.checkpoint.size)
                return (verdict, tree, root)
            }
            guard verdict.isIntact else {
                printError("\(verdict.description); not signing it")
                throw ExitCode(1)
            }
            if let last, rootAtLast != last.checkpoint.root {
                printError(
                    "the log's first \(last.checkpoint.size) event(s) are not the ones this key signed before (\(lastPath)): the log was rewritten or cut; not signing it"
                )
                throw ExitCode(1)
            }
            let note = try key.sign(GreenlightTransparency.Checkpoint(origin: key.verifier.name, size: tree.size, root: tree.root).text)
            try OutputFile.replace(lastPath, with: Array(note.encoded.utf8))
            let sink = try OutputFile(output, replacing: true)
            try sink.write(Array(note.encoded.utf8))
            try sink.close()
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit events as JSON lines, oldest first."
        )

        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this service.") var service: String?
        @Option(name: [.customLong("env"), .customLong("environment")], help: "Only this environment.") var environment: String?
        @Option(help: "Only this actor (a person, or pipeline:NAME).") var actor: String?
        @Option(help: "Only this gate.") var gate: String?
        @Option(help: "Only this action (gate.opened, vote.recorded, vote.refused, gate.decided, …).") var action: String?
        @Option(help: "From this time (RFC 3339).") var since: String?
        @Option(help: "Before this time (RFC 3339).") var until: String?
        @Option(help: "At most this many events.") var limit = 10_000
        @Flag(help: "Only break-glass uses (gate.break_glass), for the post-incident review. Same as --action gate.break_glass.")
        var breakGlass = false
        @Option(help: "Only the decisions (gate.decided) that ended so: approved, rejected, timed_out or cancelled.")
        var decision: GateState?

        func validate() throws {
            if breakGlass, let action, action != AuditAction.breakGlass.rawValue {
                throw ValidationError("--break-glass and --action \(action) ask for different events; use one")
            }
            if let decision {
                guard decision != .pending else { throw ValidationError("--decision pending: a pending gate has no decision yet") }
                if breakGlass || action.map({ $0 != AuditAction.gateDecided.rawValue }) == true {
                    throw ValidationError("--decision reads gate.decided events; it does not go with --break-glass or another --action")
                }
            }
        }

        func run() async throws {
            func date(_ text: String?, _ flag: String) throws -> Date? {
                guard let text else { return nil }
                guard let date = Timestamp.parse(text) else { throw ValidationError("--\(flag) must be RFC 3339, like 2026-11-22T14:32:00Z") }
                return date
            }
            let store = try await database.openExistingStore()
            let chosen = breakGlass ? AuditAction.breakGlass.rawValue : decision != nil ? AuditAction.gateDecided.rawValue : action
            let query = AuditQuery(
                service: service, environment: environment, actor: actor, gateID: gate, action: chosen,
                since: try date(since, "since"), until: try date(until, "until"), limit: limit
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = Timestamp.jsonEncodingStrategy
            for event in try await store.whileRunning({ try await store.auditEvents(query) })
            where decision.map({ event.details["state"] == $0.rawValue }) ?? true {
                print(String(decoding: try encoder.encode(event), as: UTF8.self))
            }
        }
    }
}

extension AuditCommand.Verify {
    /// The line saying the checkpoint file's cosignatures meet the witnesses asked for; exits 1 if they do not.
    func cosigners(of path: String) throws -> String {
        let policy = try witnessPolicyGiven()
        do {
            let note = try SignedNote(parsing: try SignedCheckpoint.text(of: path, limit: SignedNote.sizeLimit, what: "--checkpoint"))
            let names = try policy.cosigners(of: note)
            guard policy.isSatisfied(byWitnessesNamed: names) else {
                printError(
                    "\(path): not witnessed: cosigned by \(names.isEmpty ? "none" : names.sorted().joined(separator: ", ")), short of the quorum")
                throw ExitCode(1)
            }
            return "cosigned by \(names.sorted().joined(separator: ", ")), as the witness quorum asks"
        } catch let error as NoteError {
            printError("\(path): \(error.description)")
            throw ExitCode(1)
        }
    }

    /// The witnesses a checkpoint must have: `--witness-policy`'s quorum, else every `--witness`.
    func witnessPolicyGiven() throws -> WitnessPolicy {
        if let witnessPolicy {
            do {
                return try WitnessPolicy(parsing: try SignedCheckpoint.text(of: witnessPolicy, limit: 1 << 20, what: "--witness-policy"))
            } catch let error as NoteError {
                throw Exit.fail("--witness-policy \(witnessPolicy): \(error.description)")
            }
        }
        let keys = try witnesses.map { try SignedCheckpoint.verifier($0, what: "--witness") }
        if let log = keys.first(where: { $0.type != .cosignatureV1 }) {
            throw Exit.fail("--witness \(log.name): a witness's key has type 0x04 (tlog-cosignature); this one is a log's")
        }
        return .all(of: keys)
    }

    /// `--proof`: a gate's decision checked against the log's key and the witnesses, offline.
    func verify(proof path: String) throws {
        let log = try SignedCheckpoint.verifier(key ?? "", what: "--key")
        let policy = try witnessPolicyGiven()
        let text = try SignedCheckpoint.text(of: path, limit: SignedNote.sizeLimit * 2, what: "--proof")
        do {
            let verified = try DecisionProof.check(text, log: log, witnesses: policy)
            let event = verified.event
            let decision = event.details["state"].map { $0 == "timed_out" ? "timed out" : $0 } ?? "decided"
            let witnessed = verified.cosigners.isEmpty ? "" : ", cosigned by \(verified.cosigners.sorted().joined(separator: ", "))"
            print(
                "gate \(event.gateID ?? "?") \(decision) (event \(event.sequence), \(Timestamp.format(event.at)), by \(event.actor)): in the log \(verified.checkpoint.origin) at size \(verified.checkpoint.size)\(witnessed)"
            )
        } catch {
            printError("\(path): \(error.description)")
            throw ExitCode(1)
        }
    }
}

extension GateState: ExpressibleByArgument {}
