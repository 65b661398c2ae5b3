/// A glob over slash-separated paths (also used for service names).
///
/// - `*` matches any run of characters, possibly empty, except `/`.
/// - `?` matches exactly one character except `/`.
/// - `**` as a whole segment matches zero or more whole segments: `db/migrations/**` matches everything under
///   `db/migrations` (and `db/migrations` itself), `**/*.sql` any `.sql` file at any depth, `a/**/b` matches `a/b` and `a/x/y/b`.
///
/// Every other character is literal (a `.` is just a dot) and matching is case-sensitive, because paths in the
/// repositories gates protect are case-sensitive and a policy must not silently cover more than it says.
public struct PathGlob: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The pattern exactly as written.
    public let pattern: String

    /// The pattern split on `/`, parsed once so that matching does no string scanning of the pattern.
    private let segments: [Segment]

    /// Parses `pattern`.
    ///
    /// - Throws: ``PathGlobError`` for an empty pattern, a leading `/` (paths are relative to the repository root),
    ///   or a `**` that is not a whole segment.
    public init(_ pattern: String) throws(PathGlobError) {
        guard !pattern.isEmpty else { throw .empty }
        guard !pattern.hasPrefix("/") else { throw .leadingSlash(pattern: pattern) }
        var segments: [Segment] = []
        for text in pattern.split(separator: "/", omittingEmptySubsequences: false) {
            if text == "**" {
                // Consecutive `**` segments match exactly what one does; collapsing them keeps matching cheap.
                if segments.last != .anyDepth { segments.append(.anyDepth) }
                continue
            }
            if text.contains("**") {
                throw .partialDoubleStar(pattern: pattern, segment: String(text))
            }
            segments.append(.pieces(text.map(Piece.init)))
        }
        self.pattern = pattern
        self.segments = segments
    }

    /// The pattern as written.
    public var description: String { pattern }

    /// Whether `path` as a whole matches the pattern.
    ///
    /// Runs in O(pattern segments × path segments) segment comparisons however many `**` the pattern has: the
    /// segment-level search is a dynamic programme over (pattern segment, path segment) positions rather than
    /// naive backtracking, which would be exponential for patterns like `**/**/**/x`.
    public func matches(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(Array.init)
        let patternCount = segments.count
        let partCount = parts.count
        // matched[i][j]: pattern segments i... match path segments j... . Filled from the end backwards.
        var matched = [[Bool]](repeating: [Bool](repeating: false, count: partCount + 1), count: patternCount + 1)
        matched[patternCount][partCount] = true
        for i in stride(from: patternCount - 1, through: 0, by: -1) {
            for j in stride(from: partCount, through: 0, by: -1) {
                switch segments[i] {
                case .anyDepth:
                    // Either `**` matches no more segments, or it swallows segment j and stays in place.
                    matched[i][j] = matched[i + 1][j] || (j < partCount && matched[i][j + 1])
                case .pieces(let pieces):
                    // Only compare the segment text when the rest could match, which skips most comparisons.
                    matched[i][j] = j < partCount && matched[i + 1][j + 1] && Self.segmentMatches(pieces, parts[j])
                }
            }
        }
        return matched[0][0]
    }

    /// Two globs are the same when their patterns are; the parsed form follows from the pattern.
    public static func == (lhs: PathGlob, rhs: PathGlob) -> Bool {
        lhs.pattern == rhs.pattern
    }

    /// Hashes the pattern, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(pattern)
    }

    /// One `/`-free segment against `*`/`?` pieces, with the classic single-backtrack-point algorithm: on a
    /// mismatch only the most recent `*` needs to absorb one more character, so this is O(n × m) at worst.
    private static func segmentMatches(_ pieces: [Piece], _ text: [Character]) -> Bool {
        var p = 0
        var t = 0
        var starPiece: Int?
        var starText = 0
        while t < text.count {
            if p < pieces.count {
                switch pieces[p] {
                case .star:
                    starPiece = p
                    starText = t
                    p += 1
                    continue
                case .any:
                    p += 1
                    t += 1
                    continue
                case .literal(let character) where character == text[t]:
                    p += 1
                    t += 1
                    continue
                case .literal:
                    break
                }
            }
            guard let star = starPiece else { return false }
            p = star + 1
            starText += 1
            t = starText
        }
        while p < pieces.count, pieces[p] == .star { p += 1 }
        return p == pieces.count
    }

    /// A pattern segment: `**`, or a sequence of pieces matched within one path segment.
    private enum Segment: Sendable, Equatable, Hashable {
        case anyDepth
        case pieces([Piece])
    }

    /// One element of a segment pattern.
    private enum Piece: Sendable, Equatable, Hashable {
        case literal(Character)
        case star
        case any

        init(_ character: Character) {
            switch character {
            case "*": self = .star
            case "?": self = .any
            default: self = .literal(character)
            }
        }
    }
}

/// Why a glob pattern was refused.
public enum PathGlobError: Error, Equatable, CustomStringConvertible {
    /// The pattern is the empty string, which would match nothing useful.
    case empty
    /// The pattern starts with `/`; paths are matched relative to the repository root.
    case leadingSlash(pattern: String)
    /// A segment contains `**` together with other characters, e.g. `a**` or `**b`.
    case partialDoubleStar(pattern: String, segment: String)

    /// What is wrong and how to fix it.
    public var description: String {
        switch self {
        case .empty:
            return "the path pattern is empty; write a glob such as 'src/**' or '**/*.sql'"
        case .leadingSlash(let pattern):
            let fixed = String(pattern.drop(while: { $0 == "/" }))
            return "the path pattern '\(pattern)' starts with '/'; paths are relative to the repository root, write '\(fixed)'"
        case .partialDoubleStar(let pattern, let segment):
            return "the path pattern '\(pattern)' has '**' inside the segment '\(segment)'; '**' must be a whole segment, "
                + "write '**/' to match any number of directories or '*' to match within one name"
        }
    }
}
