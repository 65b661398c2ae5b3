import GreenlightTransparency

/// Checks an export of the audit log (`audit export --format jsonl`) line by line, with nothing but the file and,
/// optionally, a checkpoint whose signature the caller has checked: each line is an event written as its leaf, in
/// sequence from 1, linked to the one before by the chain's hashes; and the tree of the first `checkpoint.size`
/// events has the checkpoint's root.
///
/// The chain names the first edited event when its hash was left as it was; an editor who recomputed the hashes
/// after it is caught by the checkpoint's root, which no edit of the file can reach.
public struct AuditExportVerifier: Sendable {
    private let checkpoint: Checkpoint?
    private var tree = AuditTreeBuilder()
    private var previousHash = AuditChain.genesisHash
    private var rootAtCheckpoint: TreeHash?

    public init(checkpoint: Checkpoint?) {
        self.checkpoint = checkpoint
        if checkpoint?.size == 0 { rootAtCheckpoint = MerkleTree.emptyRoot }
    }

    /// Checks the next line (without its newline).
    public mutating func check(line: some Collection<UInt8>) throws(AuditExportProblem) {
        let number = tree.size + 1
        let event: AuditEvent
        do {
            event = try AuditLeaves.event(fromLeaf: line)
        } catch {
            throw .line(number, error.description)
        }
        do {
            try tree.append(event)
        } catch {
            throw .line(number, error.description)
        }
        guard event.previousHash == previousHash else {
            throw .line(number, "event \(event.sequence) does not link to the event before it (an event before it was removed or edited)")
        }
        // An event written before schema v5 was hashed with its old time text (docs/audit.md); either form is its own.
        guard event.hash == AuditChain.hash(of: event) || event.hash == AuditChain.hash(of: event, time: .beforeSchemaV5) else {
            throw .line(number, "event \(event.sequence) does not match its hash: it was edited")
        }
        previousHash = event.hash
        if tree.size == checkpoint?.size { rootAtCheckpoint = tree.root }
    }

    /// What was verified, once every line is checked.
    public func finish() throws(AuditExportProblem) -> String {
        var verdict = "export intact: \(tree.size) event(s), Merkle root \(tree.root)"
        if let checkpoint {
            guard let root = rootAtCheckpoint else {
                throw .checkpoint("the checkpoint is of \(checkpoint.size) event(s) but the export holds \(tree.size): events were cut off")
            }
            guard root == checkpoint.root else {
                throw .checkpoint(
                    "the export's first \(checkpoint.size) event(s) have root \(root), the checkpoint signed \(checkpoint.root): the log was rewritten"
                )
            }
            verdict += "; its first \(checkpoint.size) event(s) are the ones the checkpoint of \(checkpoint.origin) signed"
        }
        return verdict
    }
}

public enum AuditExportProblem: Error, Equatable, CustomStringConvertible {
    case line(UInt64, String)
    case checkpoint(String)

    public var description: String {
        switch self {
        case .line(let number, let why): "export broken at line \(number): \(why)"
        case .checkpoint(let why): "export does not match the checkpoint: \(why)"
        }
    }
}
