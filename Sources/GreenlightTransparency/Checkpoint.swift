/// A log's statement of its size and root, in the C2SP `tlog-checkpoint` form: the text of a signed note made of the
/// origin (the log's name), the tree size in decimal, the root in base64, and any extension lines.
///
///     greenlight.example.com/audit
///     1234
///     mJxRkWiPGCpvPx8Fd0y9IlmZTRnHC1N2D0Ji0dw4Pm8=
///
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var root: TreeHash
    /// Lines after the root; each non-empty.
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: TreeHash, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The note text: every line ending in a newline.
    public var text: String {
        ([origin, String(size), root.base64] + extensions).map { $0 + "\n" }.joined()
    }

    /// Reads a checkpoint from a note's text (``SignedNote/text``), which must be opened first: an unsigned text
    /// says nothing.
    public init(text: String) throws(NoteError) {
        guard text.hasSuffix("\n") else { throw .badCheckpoint("the text does not end in a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { throw .badCheckpoint("it needs an origin, a tree size and a root hash, one a line") }
        guard !lines[0].isEmpty else { throw .badCheckpoint("the origin line is empty") }
        let sizeText = lines[1]
        // Decimal with no sign and no leading zero (but "0" itself), as the format has it.
        guard !sizeText.isEmpty, sizeText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            sizeText == "0" || !sizeText.hasPrefix("0"), let size = UInt64(sizeText)
        else { throw .badCheckpoint("the tree size '\(sizeText.prefix(30))' is not a decimal number of at most 20 digits") }
        guard let root = TreeHash(base64: lines[2]) else { throw .badCheckpoint("the root '\(lines[2].prefix(60))' is not base64 of 32 bytes") }
        if lines.dropFirst(3).contains(where: \.isEmpty) { throw .badCheckpoint("an extension line is empty") }
        self.init(origin: String(lines[0]), size: size, root: root, extensions: lines.dropFirst(3).map(String.init))
    }
}
