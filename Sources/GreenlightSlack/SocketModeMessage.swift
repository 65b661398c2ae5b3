import Foundation
import GreenlightCore

/// Why a Socket Mode text frame could not be read. The client logs it and keeps the connection: one odd frame is no
/// reason to drop the others.
public enum SocketModeMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The frame is not a JSON object.
    case notJSONObject
    /// A field the message type requires is missing or has the wrong type.
    case missingField(String)
    /// A `type` Socket Mode does not document, with no `envelope_id` to acknowledge.
    case unknownType(String)

    public var description: String {
        switch self {
        case .notJSONObject: "the Socket Mode frame is not a JSON object"
        case .missingField(let field): "the Socket Mode frame lacks '\(field)'"
        case .unknownType(let type): "the Socket Mode frame has unknown type '\(type)' and no envelope_id"
        }
    }
}

/// One message Slack sends over a Socket Mode WebSocket (protocols.md 4.2), decoded from its text frame.
public enum SocketModeMessage: Sendable, Equatable {
    /// The connection is ready. Sent once, first.
    case hello(Hello)
    /// Slack will close this connection (`refresh_requested`, `warning`, `link_disabled`, …): open a new one with a
    /// fresh `apps.connections.open` URL.
    case disconnect(reason: String)
    /// Something to acknowledge with `ack(envelopeID:)` within 3 seconds: `type` is `interactive`, `events_api` or
    /// `slash_commands`; `payload` is what the HTTP endpoint would have received.
    case envelope(id: String, type: String, payload: JSONValue, acceptsResponsePayload: Bool)

    /// What `hello` says about the connection; every field is optional because none of them matters for correctness.
    public struct Hello: Sendable, Equatable {
        public var appID: String?
        public var numConnections: Int?
        /// Seconds until Slack expects to refresh this connection.
        public var approximateConnectionTime: Double?

        public init(appID: String? = nil, numConnections: Int? = nil, approximateConnectionTime: Double? = nil) {
            self.appID = appID
            self.numConnections = numConnections
            self.approximateConnectionTime = approximateConnectionTime
        }
    }

    /// Decodes one text frame. Any frame with an `envelope_id` is an envelope, whatever its type, so that it gets
    /// acknowledged even if Slack adds envelope types.
    public static func decode(_ text: String) throws(SocketModeMessageError) -> SocketModeMessage {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)) else { throw .notJSONObject }
        if let envelopeID = object["envelope_id"] {
            guard let id = envelopeID.stringValue, !id.isEmpty else { throw .missingField("envelope_id") }
            guard let type = object["type"]?.stringValue else { throw .missingField("type") }
            var acceptsResponsePayload = false
            if case .bool(let accepts)? = object["accepts_response_payload"] { acceptsResponsePayload = accepts }
            return .envelope(id: id, type: type, payload: object["payload"] ?? .null, acceptsResponsePayload: acceptsResponsePayload)
        }
        guard let type = object["type"]?.stringValue else { throw .missingField("type") }
        switch type {
        case "hello":
            var hello = Hello()
            if case .object(let info)? = object["connection_info"] { hello.appID = info["app_id"]?.stringValue }
            if case .number(let count)? = object["num_connections"] { hello.numConnections = Int(count) }
            if case .object(let debug)? = object["debug_info"], case .number(let seconds)? = debug["approximate_connection_time"] {
                hello.approximateConnectionTime = seconds
            }
            return .hello(hello)
        case "disconnect":
            // The reason only explains; every disconnect is handled the same way, so a missing one is not an error.
            return .disconnect(reason: object["reason"]?.stringValue ?? "unknown")
        default:
            throw .unknownType(type)
        }
    }

    /// The acknowledgement of an envelope: `{"envelope_id":"…"}` (no `payload`: Greenlight never answers in the ack).
    public static func ack(envelopeID: String) -> String {
        let data = (try? SlackJSON.encode(["envelope_id": envelopeID])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
