import Foundation
import GreenlightCore
import Hummingbird

/// Reads a JSON request body strictly: at most 1 MiB, an object, no unknown fields, every type right.
///
/// Unknown fields are refused rather than ignored: a misspelt `triggerd_by` would otherwise silently switch off
/// separation of duties for that gate.
enum StrictJSONBody {
    /// - Parameter emptyAs: the value an empty body stands for, when the body is optional.
    static func decode<T: Decodable>(
        _ type: T.Type,
        fields: Set<String>,
        from request: Request,
        context: GreenlightRequestContext,
        emptyAs: T? = nil
    ) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "request_too_large", message: "the request body is larger than 1 MiB")
        }
        let data = Data(buffer: buffer)
        if data.isEmpty, let emptyAs { return emptyAs }
        guard !data.isEmpty else { throw APIError.badRequest("the request needs a JSON body", code: "invalid_json") }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: data)
        } catch {
            throw APIError.badRequest("the body is not a JSON object: \(Self.describe(error))", code: "invalid_json")
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw APIError.badRequest("unknown field '\(unknown)'; the fields are \(fields.sorted().joined(separator: ", "))", code: "unknown_field")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw APIError.badRequest(Self.describe(error), code: "invalid_field")
        }
    }

    /// A decoding error as one sentence naming the field.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            (keys + (last.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing required field '\(path(context.codingPath, key))'"
        case DecodingError.typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' must be \(Self.describe(type))"
        case DecodingError.valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' must be \(Self.describe(type)), not null"
        case DecodingError.dataCorrupted(let context):
            let field = path(context.codingPath)
            return field.isEmpty ? "malformed JSON" : "field '\(field)': \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Double.Type, is Int.Type: "a number"
        case is Bool.Type: "true or false"
        case is [String].Type, is [Any].Type: "a list"
        case is [String: String].Type: "an object of strings"
        default: "of type \(type)"
        }
    }
}
