import Foundation
import GreenlightCore

/// A pass over a YAML text's tokens before Yams composes it, refusing the shapes that would hurt while composing.
///
/// Yams refuses a key written twice by hashing every key of every mapping, and a node reached through an alias is the
/// whole node its anchor names: an alias to a large collection used as a key (`*bomb: x`, `{*bomb}`, `[*bomb]: x`) is
/// hashed through its whole expansion, 10¹⁰ nodes for a 1.6 KB file, before the policy parser and its node budget see
/// anything. A policy's keys are plain names, so the pass refuses every key that is not a scalar, and explicit
/// `? key` entries, which no policy needs. It also bounds nesting, which Yams composes by recursion, and counts aliases.
///
/// The pass follows libyaml's scanner (the one Yams uses): block indentation, flow collections, quoted, plain and block
/// scalars, comments. Where it might read a token differently, it errs towards seeing one, which can at worst refuse
/// an odd document, never let a harmful one through. YAML syntax errors are left to Yams, which reports them better.
enum YAMLPrescan {
    /// The first problem found, with its 1-based line.
    struct Problem: Equatable {
        var line: Int
        var message: String
    }

    static func firstProblem(in text: String) -> Problem? {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = Scanner(bytes)
            return scanner.run()
        }
    }

    private struct Scanner {
        /// A flow collection being read: for a mapping, whether the next node is a key.
        struct Flow {
            var isMapping: Bool
            var expectsKey: Bool
        }

        /// What the last token was, to tell what a `:` makes a key of.
        enum Previous {
            case separator
            case scalar
            case alias
            case collectionEnd
        }

        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var line = 1
        var lineStart = 0
        var aliases = 0
        var previous = Previous.separator
        /// libyaml's block indentation: the column of the innermost block collection (-1 outside any), and the
        /// columns of those around it.
        var indent = -1
        var indents: [Int] = []
        var flows: [Flow] = []
        /// Where the node that a `:` on this line would make a key started (a simple key, in libyaml's words).
        var keyColumn: Int?

        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            // A byte order mark is not content.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        }

        var column: Int { index - lineStart }
        var inFlow: Bool { !flows.isEmpty }

        func byte(at offset: Int = 0) -> UInt8? {
            index + offset < bytes.count ? bytes[index + offset] : nil
        }

        static func isBreak(_ byte: UInt8?) -> Bool { byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") }
        static func isBlank(_ byte: UInt8?) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        /// A blank, a line break or the end of the text.
        static func isBlankOrEnd(_ byte: UInt8?) -> Bool { byte == nil || isBlank(byte) || isBreak(byte) }
        static func isFlowIndicator(_ byte: UInt8?) -> Bool {
            guard let byte else { return false }
            return [UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}")].contains(byte)
        }
        /// The characters libyaml allows in an anchor or alias name.
        static func isNameCharacter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        static let documentStart = Array("---".utf8)
        static let documentEnd = Array("...".utf8)

        /// At `---` or `...` starting a line, followed by white space or the end.
        var atDocumentMarker: Bool {
            column == 0 && (bytes[index...].starts(with: Self.documentStart) || bytes[index...].starts(with: Self.documentEnd))
                && Self.isBlankOrEnd(byte(at: 3))
        }

        /// Moves past one byte, counting lines (`\r\n` is one break).
        mutating func advance() {
            let current = bytes[index]
            index += 1
            if current == UInt8(ascii: "\n") || current == UInt8(ascii: "\r") && byte() != UInt8(ascii: "\n") {
                line += 1
                lineStart = index
                // A simple key lies on one line.
                if !inFlow { keyColumn = nil }
            }
        }

        /// Moves to the line break ending this line (or the end). No line is crossed, so no line needs counting.
        mutating func skipToEndOfLine() {
            while index < bytes.count, bytes[index] != UInt8(ascii: "\n"), bytes[index] != UInt8(ascii: "\r") { index += 1 }
        }

        mutating func run() -> Problem? {
            while true {
                // White space, line breaks and comments between tokens (at a token's start, `#` begins a comment).
                while let current = byte(), Self.isBlank(current) || Self.isBreak(current) || current == UInt8(ascii: "#") {
                    if current == UInt8(ascii: "#") { skipToEndOfLine() } else { advance() }
                }
                guard let current = byte() else { return nil }
                // A token less indented than the block collections around it closes them.
                if !inFlow {
                    while indent > column { indent = indents.popLast() ?? -1 }
                }
                if column == 0, current == UInt8(ascii: "%") {  // a directive
                    skipToEndOfLine()
                    continue
                }
                if atDocumentMarker {
                    index += 3
                    previous = .separator
                    keyColumn = nil
                    continue
                }
                if let problem = token(current) { return problem }
            }
        }

        /// Opens a block collection at `column` when it is indented past the current one, as libyaml does.
        mutating func rollIndent(to column: Int) -> Problem? {
            guard !inFlow, indent < column else { return nil }
            indents.append(indent)
            indent = column
            return checkNesting()
        }

        func checkNesting() -> Problem? {
            guard indents.count + flows.count > PolicyLimits.maximumNesting else { return nil }
            return Problem(line: line, message: "lists and mappings nest more than \(PolicyLimits.maximumNesting) deep here")
        }

        /// A node (not an indicator) starts here: remember where, in case a `:` makes it a key.
        mutating func nodeStarts(at column: Int) {
            if keyColumn == nil { keyColumn = column }
        }

        /// Whether the next node in the innermost flow mapping is a key (libyaml reads `{a, b}` as keys with empty values).
        var atFlowKey: Bool { flows.last.map { $0.isMapping && $0.expectsKey } ?? false }

        /// Reads the token starting at `current`.
        mutating func token(_ current: UInt8) -> Problem? {
            let start = column
            switch current {
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                if atFlowKey { return Problem(line: line, message: "a list or mapping is used as a key; keys are plain names") }
                nodeStarts(at: start)
                flows.append(Flow(isMapping: current == UInt8(ascii: "{"), expectsKey: true))
                advance()
                previous = .separator
                return checkNesting()
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = flows.popLast()
                advance()
                previous = .collectionEnd
            case UInt8(ascii: ","):
                if !flows.isEmpty { flows[flows.count - 1].expectsKey = true }
                advance()
                previous = .separator
            case UInt8(ascii: "-") where Self.isBlankOrEnd(byte(at: 1)):
                advance()
                previous = .separator
                keyColumn = nil
                return rollIndent(to: start)
            case UInt8(ascii: "?") where inFlow || Self.isBlankOrEnd(byte(at: 1)):
                return Problem(line: line, message: "an explicit key ('? key') is not read in a policy; write 'key: value'")
            case UInt8(ascii: ":") where inFlow || Self.isBlankOrEnd(byte(at: 1)):
                switch previous {
                case .alias: return Problem(line: line, message: "an alias (*name) is used as a key; keys are plain names")
                case .collectionEnd: return Problem(line: line, message: "a list or mapping is used as a key; keys are plain names")
                case .separator, .scalar: break
                }
                if !flows.isEmpty { flows[flows.count - 1].expectsKey = false }
                let key = keyColumn ?? start
                advance()
                previous = .separator
                keyColumn = nil
                return rollIndent(to: key)
            case UInt8(ascii: "*"):
                if atFlowKey { return Problem(line: line, message: "an alias (*name) is used as a key; keys are plain names") }
                nodeStarts(at: start)
                advance()
                while let next = byte(), Self.isNameCharacter(next) { advance() }
                aliases += 1
                previous = .alias
                if aliases > PolicyLimits.maximumAliases {
                    return Problem(line: line, message: "more than \(PolicyLimits.maximumAliases) aliases (*name); write the repeated parts out")
                }
            case UInt8(ascii: "&"):
                nodeStarts(at: start)
                advance()
                while let next = byte(), Self.isNameCharacter(next) { advance() }
            case UInt8(ascii: "!"):
                // A tag: up to white space, or a flow indicator inside a flow collection.
                nodeStarts(at: start)
                while let next = byte(), !Self.isBlankOrEnd(next), !(inFlow && Self.isFlowIndicator(next)) { advance() }
            case UInt8(ascii: "|") where !inFlow, UInt8(ascii: ">") where !inFlow:
                nodeStarts(at: start)
                blockScalar()
                previous = .scalar
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                nodeStarts(at: start)
                quotedScalar(current)
                previous = .scalar
            default:
                nodeStarts(at: start)
                plainScalar()
                previous = .scalar
            }
            return nil
        }

        /// A single- (`''` is a quote) or double-quoted (`\` escapes) scalar, over as many lines as it takes.
        mutating func quotedScalar(_ quote: UInt8) {
            advance()
            while index < bytes.count {
                let current = bytes[index]
                if current == UInt8(ascii: "\n") || current == UInt8(ascii: "\r") {
                    advance()
                    continue
                }
                if quote == UInt8(ascii: "\""), current == UInt8(ascii: "\\") {
                    index += 1
                    if byte() != nil { advance() }
                    continue
                }
                index += 1
                if current == quote {
                    guard quote == UInt8(ascii: "'"), byte() == quote else { return }
                    index += 1
                }
            }
        }

        /// A plain scalar, with the lines that continue it: in a block, those indented past the block collection it is
        /// in; in a flow collection, every line up to an indicator.
        mutating func plainScalar() {
            let continuation = indent + 1
            let inFlow = inFlow
            while true {
                if atDocumentMarker || byte() == UInt8(ascii: "#") { return }
                // The scalar's characters up to white space (the hot loop of a large policy: no line is crossed in it).
                while index < bytes.count {
                    let current = bytes[index]
                    if current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") || current == UInt8(ascii: "\n") || current == UInt8(ascii: "\r")
                    {
                        break
                    }
                    if current == UInt8(ascii: ":"), Self.isBlankOrEnd(byte(at: 1)) { return }
                    if inFlow, Self.isFlowIndicator(current) { return }
                    if inFlow, current == UInt8(ascii: ":"), Self.isFlowIndicator(byte(at: 1)) || byte(at: 1) == UInt8(ascii: "?") { return }
                    index += 1
                }
                guard let current = byte(), Self.isBlank(current) || Self.isBreak(current) else { return }
                while let next = byte(), Self.isBlank(next) || Self.isBreak(next) { advance() }
                if byte() == nil || !inFlow && column < continuation { return }
            }
        }

        /// A literal (`|`) or folded (`>`) scalar: its header, then its lines, as libyaml reads them (indented by the
        /// explicit indentation indicator, or as the first non-empty line is, and past the enclosing block collection).
        mutating func blockScalar() {
            advance()
            var increment: Int?
            while let current = byte(), !Self.isBlankOrEnd(current), current != UInt8(ascii: "#") {
                if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(current) { increment = Int(current - UInt8(ascii: "0")) }
                advance()
            }
            skipToEndOfLine()
            guard byte() != nil else { return }
            advance()
            var contentIndent = increment.map { indent >= 0 ? indent + $0 : $0 }
            while index < bytes.count {
                var spaces = 0
                while byte(at: spaces) == UInt8(ascii: " ") { spaces += 1 }
                let next = byte(at: spaces)
                if next == nil { return }
                let isEmpty = Self.isBreak(next)
                if !isEmpty, contentIndent == nil { contentIndent = max(indent + 1, 1, spaces) }
                if !isEmpty, let contentIndent, spaces < contentIndent { return }
                skipToEndOfLine()
                if byte() != nil { advance() }
            }
        }
    }
}
