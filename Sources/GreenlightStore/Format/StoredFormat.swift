import Crypto
import Foundation
import GreenlightCore

/// How values are written into a database, for every store: the JSON of the frozen parts of a gate (its request and
/// its plan), the payloads of outbound work, and the fingerprint of a request.
///
/// The stored JSON is written from records of its own (``StoredRequest``, ``StoredPlan``), not from the domain's
/// `Codable`: renaming a property of the domain must not change what a database holds. Instants are integer
/// milliseconds since 1970, as every column stores them (``Timestamp/milliseconds(_:)``).
public enum StoredFormat {
    /// The version of the records this build writes, kept in each gate's row (`record_format`): a row of a version
    /// this build does not know is an error, never read as something else.
    public static let recordVersion = 2

    /// One encoder for everything stored: sorted keys (so that the same value is the same bytes, which fingerprints
    /// rely on), slashes unescaped, instants as integer milliseconds since 1970.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.milliseconds(date))
        }
        return encoder
    }()

    /// The decoder matching ``encoder``: an instant that is not an integer is an error.
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            Timestamp.date(milliseconds: try decoder.singleValueContainer().decode(Int64.self))
        }
        return decoder
    }()

    /// `value` as stored JSON text.
    public static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `value` as stored JSON text, for values that always encode (string dictionaries).
    public static func json(_ value: [String: String]) -> String {
        // A dictionary of strings has no value JSON cannot hold.
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Decodes stored JSON text, naming `what` in the error.
    public static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: @autoclosure () -> String) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(text.utf8))
        } catch {
            throw StoreError.corruptRow("\(what()) is not valid stored JSON: \(error)")
        }
    }

    /// SHA-256 of the request's stored JSON: tells a retried request from a different one under the same
    /// idempotency key. The same bytes the first stores wrote (the request's JSON has the same keys and no instants),
    /// so that a retry after an upgrade is still recognised.
    public static func fingerprint(of request: GateRequest) throws -> String {
        SHA256.hash(data: Data(try json(StoredRequest(request)).utf8)).hexEncoded
    }
}
