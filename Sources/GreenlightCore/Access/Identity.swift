import Foundation

/// How Greenlight reads a name that stands for a person: an author or triggerer a pipeline claims, a token's user, a
/// person, login, e-mail or Slack id in the policy.
///
/// Separation of duties is only as strong as the match between the identity a pipeline gives and the person who
/// later votes: `"alice-gh "` that fails to resolve to alice would bar the raw string and let alice approve her own
/// change. So every identity is put in one form where it enters (``normalized(_:)``) and compared in one way
/// (``matchKey(_:)``), and the forms that cannot be matched safely — invisible characters, compatibility look-alikes
/// such as full-width letters, Latin mixed with letters of scripts that imitate it — are refused, not passed.
public enum Identity {
    /// The longest identity accepted: longer than any login, e-mail or Slack id, short enough to print.
    public static let maximumLength = 254

    /// The most UTF-8 bytes looked at: checked before anything else, since normalising a long run of combining marks
    /// costs time quadratic in its length (a 1 MiB author would hold a core for minutes).
    static let maximumBytes = 1_024

    /// `raw` without leading and trailing white space, in Unicode NFC, or why it cannot name a person.
    public static func normalized(_ raw: String) -> Result<String, IdentityProblem> {
        guard raw.utf8.count <= maximumBytes else { return .failure(.tooLong(limit: maximumLength)) }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return .failure(.empty) }
        let value = trimmed.precomposedStringWithCanonicalMapping
        guard value.unicodeScalars.count <= maximumLength else { return .failure(.tooLong(limit: maximumLength)) }
        for scalar in value.unicodeScalars where isInvisible(scalar) { return .failure(.invisible(scalar)) }
        // Compatibility characters (full-width `ａｌｉｃｅ`, ligatures, superscripts) look like plain letters but are
        // other code points; NFKC would fold them, and silently folding would make two different strings one person.
        if value.precomposedStringWithCompatibilityMapping != value {
            let folded = value.precomposedStringWithCompatibilityMapping
            return .failure(.compatibilityForm(plain: folded))
        }
        // Scripts are judged per label (`ivan@почта.рф` mixes none: its local part is Latin, its domain Cyrillic).
        for label in value.unicodeScalars.split(whereSeparator: { $0 == "@" || $0 == "." }) {
            let asciiLetters = label.contains { $0.isASCII && $0.properties.isAlphabetic }
            if asciiLetters, let imitating = label.first(where: { $0.properties.isAlphabetic && imitatesLatin($0) }) {
                return .failure(.mixedScripts(imitating))
            }
        }
        return .success(value)
    }

    /// The form two identities are compared in: trimmed, NFC, case-folded. `Alice@Example.com` and
    /// `alice@example.com ` are one.
    public static func matchKey(_ identity: String) -> String {
        // Too long to be an identity (``normalized(_:)`` refuses it): compared as it is, not normalised at length.
        guard identity.utf8.count <= maximumBytes else { return identity }
        return identity.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping.folding(
            options: [.caseInsensitive], locale: nil)
    }

    /// What an identity looks like, more or less: compatibility-decomposed, without marks or invisibles, dotless and
    /// dotted i as i, every dash as `-`, case-folded. `ALİCE`, `alıce`, `ạlice`, `alicé` and `alice‐gh` (U+2010) look
    /// like `alice` and `alice-gh` and have their skeletons; separation of duties bars everyone an author's skeleton
    /// could be, since a look-alike the policy does not know might be the person it imitates.
    public static func skeleton(_ identity: String) -> String {
        guard identity.utf8.count <= maximumBytes else { return identity }
        var shown = String.UnicodeScalarView()
        for scalar in identity.trimmingCharacters(in: .whitespacesAndNewlines).decomposedStringWithCompatibilityMapping.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            case .dashPunctuation: shown.append("-")
            default:
                if isInvisible(scalar) { continue }
                switch scalar.value {
                case 0x0131, 0x0130: shown.append("i")  // dotless ı, dotted İ (which NFKD leaves as I + a mark elsewhere)
                case 0x2212, 0x2010, 0x2011, 0x2043, 0xFE63, 0xFF0D: shown.append("-")  // minus sign and hyphen forms
                default: shown.append(scalar)
                }
            }
        }
        return String(shown).folding(options: [.caseInsensitive], locale: nil)
    }

    /// Whether two identities name the same person's account.
    public static func matches(_ first: String, _ second: String) -> Bool {
        matchKey(first) == matchKey(second)
    }

    /// Whether `scalar` prints as nothing or as a plain space without being one: controls, format characters
    /// (zero-width, bidirectional), other spaces (no-break), and default-ignorable characters (soft hyphen, variation
    /// selectors, the Hangul filler).
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned, .lineSeparator, .paragraphSeparator: return true
        case .spaceSeparator: return scalar != " "
        default: return properties.isDefaultIgnorableCodePoint
        }
    }

    /// Letters of the scripts whose letters pass for Latin ones (`а` U+0430 for `a`): Greek, Cyrillic, Armenian,
    /// Cherokee and Coptic, and the small capitals of the phonetic extensions. (The IPA block is not among them: its
    /// `ə`, `ɔ`, `ɛ` are letters of Azerbaijani and Akan names.)
    private static func imitatesLatin(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0370...0x03FF, 0x0400...0x052F, 0x0530...0x058F, 0x13A0...0x13FF, 0x1C80...0x1C8F,
            0x1D00...0x1DBF, 0x1F00...0x1FFF, 0x2C80...0x2CFF, 0x2DE0...0x2DFF, 0xA640...0xA69F, 0xAB70...0xABBF:
            return true
        default:
            return false
        }
    }
}

/// Why a string cannot stand for a person.
public enum IdentityProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(limit: Int)
    /// A character that shows as nothing or as a plain space: zero-width, bidirectional controls, no-break spaces.
    case invisible(Unicode.Scalar)
    /// Compatibility characters that NFKC folds to `plain`.
    case compatibilityForm(plain: String)
    /// Latin letters mixed with a letter of a script whose letters imitate Latin ones.
    case mixedScripts(Unicode.Scalar)

    public var description: String {
        switch self {
        case .empty:
            return "must name a person (it is empty or only white space)"
        case .tooLong(let limit):
            return "must be at most \(limit) characters"
        case .invisible(let scalar):
            return "contains the invisible or control character \(Self.codePoint(scalar)); write the identity without it"
        case .compatibilityForm(let plain):
            return "contains compatibility characters (full-width or styled letters); write it in plain characters, as '\(plain.debugEscaped)'"
        case .mixedScripts(let scalar):
            return "mixes Latin letters with \(Self.codePoint(scalar)), a letter that looks like a Latin one; write it in one script"
        }
    }

    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
    }
}

extension String {
    /// The string as an error message can show it: characters that print as nothing or as a plain space written as
    /// `\u{200B}`, so that a person sees why `"alice "` is not `alice`; at most 120 characters.
    public var debugEscaped: String {
        var shown = ""
        for scalar in unicodeScalars.prefix(120) {
            if Identity.isInvisible(scalar) {
                shown += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return unicodeScalars.count > 120 ? shown + "…" : shown
    }

    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
