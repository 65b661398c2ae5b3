import GreenlightTransparency

/// A gate's decision as a C2SP `tlog-proof` (`GET /v1/gates/{id}/proof`): the `gate.decided` event (the proof's extra
/// data), its index, its inclusion proof, and a checkpoint the log signed and its witnesses cosigned. Checking it needs
/// the log's verifier key and the witness policy, nothing of the server.
public enum DecisionProof {
    /// What a proof that checks out shows.
    public struct Verified: Sendable {
        public var event: AuditEvent
        public var checkpoint: Checkpoint
        /// The witnesses (by policy name) whose cosignatures verified.
        public var cosigners: Set<String>
    }

    /// Checks `text`: the log's signature, the quorum of cosignatures, the event hashing to the leaf proved at its
    /// index, and that event being the decision of a gate. Throws naming the first check that fails.
    public static func check(_ text: String, log: NoteVerifierKey, witnesses: WitnessPolicy) throws(DecisionProofProblem) -> Verified {
        let proof: TransparencyProof
        do { proof = try TransparencyProof(parsing: text) } catch { throw .malformed(error.description) }
        guard log.type == .ed25519 else { throw .malformed("the log's key \(log.name) is a witness's, not a log's") }
        do { _ = try proof.checkpoint.open(with: [log]) } catch { throw .signature(error.description) }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(text: proof.checkpoint.text) } catch { throw .malformed(error.description) }
        guard checkpoint.origin.utf8.elementsEqual(log.name.utf8) else {
            throw .signature("the checkpoint is of the log '\(checkpoint.origin)', the key of '\(log.name)'")
        }
        let cosigners: Set<String>
        do { cosigners = try witnesses.cosigners(of: proof.checkpoint) } catch { throw .witnesses(error.description) }
        guard witnesses.isSatisfied(byWitnessesNamed: cosigners) else {
            let missing = witnesses.witnesses.map(\.name).filter { !cosigners.contains($0) }
            throw .witnesses(
                "the checkpoint's cosignatures do not meet the witness quorum: cosigned by \(cosigners.sorted().joined(separator: ", ").nonEmpty ?? "none"), not by \(missing.joined(separator: ", "))"
            )
        }
        guard let leaf = proof.extra else { throw .malformed("the proof carries no event (its extra line)") }
        do {
            try MerkleTree.verifyInclusion(
                index: proof.index, size: checkpoint.size, leafHash: MerkleTree.leafHash(leaf), proof: proof.proof, root: checkpoint.root)
        } catch {
            throw .notIncluded("the event is not leaf \(proof.index) of the checkpoint's tree of \(checkpoint.size): \(error)")
        }
        let event: AuditEvent
        do { event = try AuditLeaves.event(fromLeaf: leaf) } catch { throw .malformed("the proved leaf is not an audit event: \(error)") }
        guard event.sequence >= 1, UInt64(event.sequence) == proof.index + 1 else {
            throw .notIncluded("the event says it is number \(event.sequence), but is proved at leaf \(proof.index)")
        }
        guard event.action == AuditAction.gateDecided.rawValue, event.gateID != nil else {
            throw .notADecision("the proved event is \(event.action), not a gate's gate.decided")
        }
        return Verified(event: event, checkpoint: checkpoint, cosigners: cosigners)
    }
}

/// Why a decision's proof does not check out.
public enum DecisionProofProblem: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case signature(String)
    case witnesses(String)
    case notIncluded(String)
    case notADecision(String)

    public var description: String {
        switch self {
        case .malformed(let why): "not a decision's proof: \(why)"
        case .signature(let why): "the checkpoint is not the log's: \(why)"
        case .witnesses(let why): "not witnessed: \(why)"
        case .notIncluded(let why): "not in the log: \(why)"
        case .notADecision(let why): "not a decision: \(why)"
        }
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
