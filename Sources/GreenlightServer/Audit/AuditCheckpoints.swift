import AsyncHTTPClient
import Foundation
import GreenlightAudit
import GreenlightCore
import GreenlightSlack
import GreenlightStore
import GreenlightTransparency
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The audit log as a transparency log: signs a checkpoint (its size and Merkle root, a C2SP signed note) every
/// ``interval`` while events arrive, has the configured witnesses cosign it, and keeps the tree as tiles for
/// `GET /v1/audit/log/…` and the proofs.
///
/// The tree is a ``TiledTree`` grown from the events appended since the last pass, so a pass costs the new events, not
/// the log: the log is read whole once, at start. Every replica keeps its own: the tree is a function of the log, so
/// replicas with the same key sign the same checkpoint for the same size, and a witness cosigns either.
///
/// A checkpoint is *published* when the witness policy's quorum has cosigned it (at once, with no witnesses). A witness
/// that has seen another tree — larger, or different — answers 409 or 422: a fork alarm, logged, audited
/// (`audit.witness_conflict`), and shown on `/readyz` until the server restarts.
public final class AuditCheckpoints: Service, Sendable {
    public static let defaultInterval: TimeInterval = 1

    private let store: any AuditLog
    private let key: NoteSignerKey
    /// Earlier keys of the log, during a rotation: each also signs every checkpoint and attestation, so that
    /// verifiers and witnesses not yet given the new key still accept them.
    private let previousKeys: [NoteSignerKey]
    private let clock: any WallClock
    private let interval: TimeInterval
    private let witnesses: WitnessSettings?
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var tree = TiledTree()
        /// The latest checkpoint signed by the log alone.
        var signed: SignedNote?
        /// The latest checkpoint the quorum cosigned (with no witnesses, the latest signed).
        var published: SignedNote?
        /// The size each witness last cosigned, as far as this replica knows.
        var witnessSizes: [String: UInt64] = [:]
        /// Why the log is in doubt, once a witness has refused it as a fork.
        var forkAlarm: String?
        /// The (witness, reason) pairs already logged and audited: an alarm is written once, not every pass.
        var alarmed: Set<String> = []
        /// A published checkpoint not yet announced because a post was under way.
        var owed: SignedNote?
        /// A webhook post under way (a newer checkpoint waits for the next pass rather than queueing behind it).
        var posting = false
        var lastSlackPost: Date?
        var waiters: [(size: UInt64, continuation: CheckedContinuation<SignedNote, Never>)] = []
    }

    public init(
        store: any AuditLog, key: NoteSignerKey, previousKeys: [NoteSignerKey] = [], clock: any WallClock, interval: TimeInterval = defaultInterval,
        witnesses: WitnessSettings? = nil, logger: Logger
    ) {
        self.store = store
        self.key = key
        self.previousKeys = previousKeys
        self.clock = clock
        self.interval = interval
        self.witnesses = witnesses
        self.logger = logger
    }

    /// The verifier key of the checkpoints, for whoever checks them.
    public var verifierKey: NoteVerifierKey { key.verifier }

    /// `payload` of `type` in a DSSE envelope signed with the log's key: how approvals become attestations.
    public func envelope(payload: [UInt8], type: String) throws -> DSSEEnvelope {
        var envelope = try DSSEEnvelope(payload: payload, type: type, signedBy: key)
        for previous in previousKeys {
            envelope.signatures += try DSSEEnvelope(payload: payload, type: type, signedBy: previous).signatures
        }
        return envelope
    }

    /// The latest published checkpoint (cosigned by the quorum, when there are witnesses), if there is one.
    public var latest: SignedNote? { state.withLock { $0.published } }

    /// Why a witness refused the log, if one has: shown on `/readyz`.
    public var forkAlarm: String? { state.withLock { $0.forkAlarm } }

    /// Returns the first published checkpoint of at least `size` events: how a test waits for one, without sleeping.
    public func checkpoint(atLeast size: UInt64) async -> SignedNote {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> SignedNote? in
                if let latest = state.published, Self.size(of: latest) >= size { return latest }
                state.waiters.append((size, continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await self.pass()
                    failing = false
                } catch is CancellationError {
                    return
                } catch {
                    // Said once per outage; the next pass tries again. A log out of sequence stays unsigned.
                    if !failing { self.logger.error("signing a checkpoint of the audit log failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await self.clock.sleep(until: self.clock.now().addingTimeInterval(self.interval))
            }
        }
    }

    /// Reads the new events, signs a checkpoint if there are any, and asks the witnesses until the quorum cosigns.
    private func pass() async throws {
        var appended = state.withLock { $0.tree.size }
        try await store.forEachAuditPage(after: Int64(clamping: appended)) { events in
            var hashes: [TreeHash] = []
            hashes.reserveCapacity(events.count)
            for event in events {
                guard event.sequence == Int64(clamping: appended) + 1 else {
                    throw AuditTreeError.outOfSequence(expected: Int64(clamping: appended) + 1, found: event.sequence)
                }
                hashes.append(AuditLeaves.leafHash(of: event))
                appended += 1
            }
            self.state.withLock { state in
                for hash in hashes { state.tree.append(hash) }
            }
            return true
        }
        let (tree, signed, published) = state.withLock { ($0.tree, $0.signed, $0.published) }
        var note = signed
        if signed.map(Self.size(of:)) != tree.size || signed == nil {
            let checkpoint = Checkpoint(origin: key.verifier.name, size: tree.size, root: tree.root)
            var new = try key.sign(checkpoint.text)
            for previous in previousKeys { new.signatures.append(try previous.signature(for: checkpoint.text)) }
            state.withLock { $0.signed = new }
            note = new
        }
        guard let note, published.map({ $0.text }) != note.text else { return }
        guard let witnesses else { return publish(note) }
        if let cosigned = await cosign(note, size: tree.size, witnesses: witnesses) {
            publish(cosigned)
            if let directory = witnesses.directory { write(cosigned, into: directory) }
            announce(cosigned, settings: witnesses)
        }
    }

    // MARK: Witnesses

    /// `note` with the cosignatures of the witnesses that gave one, if they meet the quorum.
    private func cosign(_ note: SignedNote, size: UInt64, witnesses: WitnessSettings) async -> SignedNote? {
        let client = WitnessClient(http: HTTPClient.shared)
        // Asked at once; the cosignatures attached in the policy's order, whichever answered first.
        let answers = await withTaskGroup(of: (Int, [NoteSignature]).self) { group in
            for (position, witness) in witnesses.endpoints.enumerated() {
                group.addTask { (position, await self.submit(note, size: size, to: witness, client: client, timeout: witnesses.timeout)) }
            }
            return await group.reduce(into: [(Int, [NoteSignature])]()) { $0.append($1) }
        }
        let cosignatures = answers.sorted { $0.0 < $1.0 }.flatMap(\.1)
        var cosigned = note
        cosigned.signatures += cosignatures
        guard let names = try? witnesses.policy.cosigners(of: cosigned), witnesses.policy.isSatisfied(byWitnessesNamed: names) else {
            return nil
        }
        return cosigned
    }

    /// Asks one witness to cosign; its valid cosignature lines, or none. Learns the witness's size from a 409 and
    /// asks once more with the proof from it.
    private func submit(
        _ note: SignedNote, size: UInt64, to witness: WitnessEndpoint, client: WitnessClient, timeout: TimeInterval
    ) async -> [NoteSignature] {
        for _ in 0..<2 {
            let old = state.withLock { $0.witnessSizes[witness.name] } ?? 0
            do {
                guard old <= size else {
                    await alarm(witness, reason: "larger_tree", logSize: size, witnessSize: old)
                    return []
                }
                let proof = try await consistencyProof(from: old, to: size)
                let answer = try await client.add(AddCheckpointRequest(oldSize: old, proof: proof, checkpoint: note), to: witness, timeout: timeout)
                switch answer {
                case .cosigned(let signatures):
                    state.withLock { $0.witnessSizes[witness.name] = size }
                    return signatures.filter { witness.key.isValidSignature($0, for: note.text) }
                case .conflict(let theirs?) where theirs > size:
                    // Another replica of the same log may simply be ahead of this one: only a log that holds fewer
                    // events than the witness has cosigned was rewound.
                    if try await store.auditEvents(AuditQuery(after: Int64(clamping: theirs) - 1, limit: 1)).isEmpty {
                        await alarm(witness, reason: "larger_tree", logSize: size, witnessSize: theirs)
                    }
                    return []
                case .conflict(let theirs?) where theirs != old:
                    state.withLock { $0.witnessSizes[witness.name] = theirs }
                    continue
                case .conflict(let theirs):
                    await alarm(witness, reason: "different_root", logSize: size, witnessSize: theirs ?? old)
                    return []
                case .refused(422, _):
                    await alarm(witness, reason: "inconsistent", logSize: size, witnessSize: old)
                    return []
                case .refused(let status, let message):
                    logger.warning(
                        "a witness refused the audit log's checkpoint",
                        metadata: ["witness": "\(witness.name)", "status": "\(status)", "answer": "\(message)"])
                    return []
                }
            } catch {
                logger.warning("a witness could not be asked to cosign", metadata: ["witness": "\(witness.name)", "error": "\(error)"])
                return []
            }
        }
        return []
    }

    /// Raises the fork alarm: logged and audited the first time for each witness and reason, shown on `/readyz`.
    private func alarm(_ witness: WitnessEndpoint, reason: String, logSize: UInt64, witnessSize: UInt64?) async {
        let message =
            switch reason {
            case "larger_tree":
                "witness \(witness.name) has cosigned a tree of \(witnessSize ?? 0) events, but this log holds \(logSize): the log was rewound, or another log signs under its name"
            case "different_root":
                "witness \(witness.name) has cosigned another tree of \(witnessSize ?? logSize) events than this log's: the log was rewritten"
            default:
                "this log's tree of \(logSize) events does not extend the tree of \(witnessSize ?? 0) witness \(witness.name) cosigned: the log was rewritten"
            }
        let first = state.withLock { state -> Bool in
            state.forkAlarm = message
            return state.alarmed.insert("\(witness.name) \(reason)").inserted
        }
        guard first else { return }
        logger.critical("fork alarm: \(message)", metadata: ["witness": "\(witness.name)", "reason": "\(reason)"])
        let record = WitnessConflict(witness: witness.name, reason: reason, logSize: logSize, witnessSize: witnessSize, message: message)
        do {
            try await store.record(AuditDraft(record, by: .greenlight, at: clock.now()))
        } catch {
            logger.error("the fork alarm could not be audited", metadata: ["error": "\(error)"])
        }
    }

    private func publish(_ note: SignedNote) {
        let size = Self.size(of: note)
        let ready = state.withLock { state in
            state.published = note
            let ready = state.waiters.filter { $0.size <= size }
            state.waiters.removeAll { $0.size <= size }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: note) }
    }

    /// Posts `note` to the webhook and, once per `slackInterval`, to the Slack channel: in the background, one post
    /// at a time, so that a slow receiver delays no checkpoint.
    private func announce(_ note: SignedNote, settings: WitnessSettings) {
        guard settings.webhook != nil || settings.slack != nil, let checkpoint = try? Checkpoint(text: note.text) else { return }
        let now = clock.now()
        let (start, toSlack) = state.withLock { state -> (Bool, Bool) in
            guard !state.posting else {
                state.owed = note
                return (false, false)
            }
            state.posting = true
            let due = state.lastSlackPost.map { now.timeIntervalSince($0) >= settings.slackInterval } ?? true
            if due, settings.slack != nil { state.lastSlackPost = now }
            return (true, due && settings.slack != nil)
        }
        guard start else { return }
        Task {
            defer {
                // The newest checkpoint published meanwhile goes out next, so a quiet log's last one is not lost.
                let owed = self.state.withLock { state -> SignedNote? in
                    state.posting = false
                    defer { state.owed = nil }
                    return state.owed
                }
                if let owed { self.announce(owed, settings: settings) }
            }
            if let webhook = settings.webhook {
                var post = HTTPClientRequest(url: webhook)
                post.method = .POST
                post.headers.add(name: "Content-Type", value: "application/json")
                post.headers.add(name: "User-Agent", value: "greenlight")
                let body: [String: Any] = [
                    "origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.base64, "checkpoint": note.encoded,
                ]
                do {
                    post.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
                    let response = try await HTTPClient.shared.execute(post, timeout: .milliseconds(Int64(settings.timeout * 1000)))
                    if !(200..<300).contains(response.status.code) {
                        self.logger.warning("the checkpoint webhook refused a checkpoint", metadata: ["status": "\(response.status.code)"])
                    }
                } catch {
                    self.logger.warning("the checkpoint could not be posted to the webhook", metadata: ["error": "\(error)"])
                }
            }
            if toSlack, let slack = settings.slack {
                let text = "Audit log checkpoint of \(checkpoint.origin): \(checkpoint.size) events\n```\n\(note.encoded)```"
                do throws(SlackAPIError) {
                    _ = try await slack.api.postMessage(SlackMessage(channel: slack.channel, text: text, blocks: nil))
                } catch {
                    self.logger.warning("the checkpoint could not be posted to Slack", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Writes `note` to `directory/checkpoint` through a temporary file and a rename, so a mirror never reads half.
    private func write(_ note: SignedNote, into directory: String) {
        let target = URL(fileURLWithPath: directory).appendingPathComponent("checkpoint")
        do {
            try Data(note.encoded.utf8).write(to: target, options: .atomic)
        } catch {
            logger.warning("the checkpoint could not be published to the directory", metadata: ["directory": "\(directory)", "error": "\(error)"])
        }
    }

    private static func size(of note: SignedNote) -> UInt64 {
        (try? Checkpoint(text: note.text))?.size ?? 0
    }

    // MARK: Tiles and proofs

    /// The size of the tree kept so far.
    public var size: UInt64 { state.withLock { $0.tree.size } }

    /// The hashes of a tile above level 0, if the tree holds it yet.
    func tile(level: Int, index: UInt64, width: Int) -> [TreeHash]? {
        state.withLock { $0.tree.tile(level: level, index: index, width: width) }
    }

    /// The inclusion proof of leaf `index` in the tree of `size`, reading at most two level-0 tiles of the log.
    public func inclusionProof(index: UInt64, size: UInt64) async throws -> [TreeHash] {
        let tree = state.withLock { $0.tree }
        guard size <= tree.size else { throw ProofError.treeTooSmall(size: size, have: tree.size) }
        let tiles = try await leafTiles(tree.leafTilesForInclusion(index: index, size: size))
        return try tree.inclusionProof(index: index, size: size, leafTiles: tiles)
    }

    public func consistencyProof(from: UInt64, to: UInt64) async throws -> [TreeHash] {
        let tree = state.withLock { $0.tree }
        guard to <= tree.size else { throw ProofError.treeTooSmall(size: to, have: tree.size) }
        let tiles = try await leafTiles(tree.leafTilesForConsistency(from: from, to: to))
        return try tree.consistencyProof(from: from, to: to, leafTiles: tiles)
    }

    /// The events of the level-0 tile `index` (up to 256, from leaf index × 256).
    func events(ofTile index: UInt64) async throws -> [AuditEvent] {
        let (first, overflow) = index.multipliedReportingOverflow(by: UInt64(TilePath.fullWidth))
        guard !overflow, first <= UInt64(Int64.max) else { return [] }
        let events = try await store.auditEvents(AuditQuery(after: Int64(first), limit: TilePath.fullWidth))
        // Only the events in sequence from the tile's first: a gap is a broken log, not a shorter tile.
        var expected = Int64(first) + 1
        return Array(
            events.prefix { event in
                defer { expected += 1 }
                return event.sequence == expected
            })
    }

    private func leafTiles(_ indexes: Set<UInt64>) async throws -> [UInt64: [TreeHash]] {
        var tiles: [UInt64: [TreeHash]] = [:]
        for index in indexes { tiles[index] = try await events(ofTile: index).map(AuditLeaves.leafHash(of:)) }
        return tiles
    }
}
