import Foundation

/// The identifier of a gate: `g_` followed by 20 lowercase base-32 characters (100 random bits).
///
/// Identifiers are random rather than sequential so that a gate's URL reveals nothing about how many
/// gates exist, and so that a guessed id is as useless as a guessed token.
public struct GateID: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public let rawValue: String

    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    /// Wraps an existing identifier, if it has the shape of one.
    public init?(_ description: String) {
        guard description.count == 22, description.hasPrefix("g_"),
            description.dropFirst(2).allSatisfy({ Self.alphabet.contains($0) })
        else { return nil }
        self.rawValue = description
    }

    /// Wraps a stored identifier without checking its shape (used by the store when reading rows it wrote).
    public init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// A new random identifier.
    public static func generate() -> GateID {
        var generator = SystemRandomNumberGenerator()
        let suffix = String((0..<20).map { _ in alphabet[Int(generator.next() % 32)] })
        return GateID(unchecked: "g_" + suffix)
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let id = GateID(raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(raw)' is not a gate id (g_ followed by 20 characters)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
