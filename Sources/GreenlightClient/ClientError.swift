/// What went wrong talking to a Greenlight server, sorted by what the caller should do about it.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer: the server is down, restarting, or the address is wrong. Worth retrying.
    case unreachable(String)
    /// 401: the token is missing or unknown.
    case unauthorized(String)
    /// 403: the token is known but not allowed to do this.
    case forbidden(code: String, message: String)
    /// Any other 4xx: the request itself is wrong, or the gate's state forbids it. Retrying will not help.
    case refused(status: Int, code: String, message: String)
    /// 5xx: the server failed. Worth retrying.
    case server(status: Int, message: String)
    /// The answer could not be read.
    case invalidResponse(String)

    /// Whether trying the same request again may succeed.
    public var isRetryable: Bool {
        switch self {
        case .unreachable, .server: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let message): "the server cannot be reached: \(message)"
        case .unauthorized(let message): "not authorized: \(message)"
        case .forbidden(_, let message): "forbidden: \(message)"
        case .refused(_, _, let message): message
        case .server(let status, let message): "the server failed (HTTP \(status)): \(message)"
        case .invalidResponse(let message): "unexpected answer from the server: \(message)"
        }
    }
}
