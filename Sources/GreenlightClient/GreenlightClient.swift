import AsyncHTTPClient
import Foundation
import GreenlightAPI
import NIOCore
import NIOHTTP1

/// A typed client of Greenlight's HTTP API (DESIGN.md 3.2), used by the CLI, the CI integrations and the tests.
public struct GreenlightClient: Sendable {
    public let server: String
    public let token: String?
    private let http: HTTPClient

    /// - Parameters:
    ///   - server: the base URL, such as `http://127.0.0.1:8080`.
    ///   - token: the bearer token.
    ///   - http: the HTTP client to use; ``standardHTTPClient`` by default.
    public init(server: String, token: String?, http: HTTPClient = GreenlightClient.standardHTTPClient) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.http = http
    }

    /// An HTTP client that fails fast when the server cannot be reached, lives as long as the process, and so needs
    /// no shutdown.
    public static let standardHTTPClient = makeHTTPClient()

    /// An HTTP client configured for Greenlight: connection failures are reported at once (this client's own loops
    /// retry with backoff and tell the user), and connecting gives up after 5 seconds.
    ///
    /// The caller owns the client and must shut it down.
    public static func makeHTTPClient(connectionsPerHost: Int = 8) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Opens a gate. `idempotencyKey` makes a retry (by this call, or by a re-run of the pipeline step) return the
    /// same gate instead of opening a second one; network failures and 5xx are retried with it until `retryFor` ends.
    public func open(
        _ request: GateRequest,
        idempotencyKey: String,
        retryFor: Duration = .seconds(60),
        onRetry: @Sendable (ClientError, Double) -> Void = { _, _ in }
    ) async throws(ClientError) -> GateResource {
        let body = try encode(request)
        let giveUp = ContinuousClock.now + retryFor
        var backoff = Backoff()
        while true {
            do {
                return try await send(.POST, "/v1/gates", body: body, headers: [("Idempotency-Key", idempotencyKey)], as: GateResource.self)
            } catch let error where error.isRetryable && ContinuousClock.now < giveUp {
                let delay = backoff.next()
                onRetry(error, delay)
                try? await Task.sleep(for: .seconds(delay))
            }
        }
    }

    /// The gate; with `wait`, held by the server until the gate is decided or `wait` seconds pass.
    public func gate(_ id: String, wait: Int? = nil) async throws(ClientError) -> GateResource {
        let query = wait.map { "?wait=\($0)" } ?? ""
        let timeout = TimeAmount.seconds(Int64(wait ?? 0) + 30)
        return try await send(.GET, "/v1/gates/\(id)\(query)", timeout: timeout, as: GateResource.self)
    }

    /// Votes on a gate as the token's person.
    public func vote(_ id: String, _ vote: VoteBody) async throws(ClientError) -> GateResource {
        try await send(.POST, "/v1/gates/\(id)/votes", body: try encode(vote), headers: [("X-Greenlight-Client", "cli")], as: GateResource.self)
    }

    /// Cancels a pending gate (only the pipeline token that opened it may).
    /// Approves the gate at once as a break-glass holder (the token's person), with the reason the review will read.
    public func breakGlass(_ id: String, reason: String) async throws(ClientError) -> GateResource {
        try await send(.POST, "/v1/gates/\(id)/break-glass", body: try encode(BreakGlassBody(reason: reason)), as: GateResource.self)
    }

    /// The policy the server opens new gates under.
    public func policy() async throws(ClientError) -> PolicyResource {
        try await send(.GET, "/v1/policy", body: nil, as: PolicyResource.self)
    }

    public func cancel(_ id: String, reason: String?) async throws(ClientError) -> GateResource {
        try await send(.POST, "/v1/gates/\(id)/cancel", body: try encode(CancelBody(reason: reason)), as: GateResource.self)
    }

    /// Blocks until the gate is decided, across server restarts and network errors: long-polls, and reconnects with
    /// backoff when the server cannot be reached. Returns the last state seen when `maxWait` ends.
    ///
    /// Errors that retrying cannot fix (an unknown gate, a revoked token) are thrown at once.
    public func waitForDecision(
        _ id: String,
        maxWait: Duration?,
        pollSeconds: Int = 60,
        onRetry: @Sendable (ClientError, Double) -> Void = { _, _ in }
    ) async throws(ClientError) -> GateResource {
        let clock = ContinuousClock()
        let giveUp = maxWait.map { clock.now + $0 }
        var backoff = Backoff()
        var lastSeen: GateResource?
        var lastError: ClientError?
        while true {
            let remaining = giveUp.map { clock.now.duration(to: $0) }
            if let remaining, remaining <= .zero {
                if let lastSeen { return lastSeen }
                throw lastError ?? .unreachable("no answer before --max-wait ended")
            }
            let wait = remaining.map { min(pollSeconds, max(0, Int(Self.seconds($0).rounded(.up)))) } ?? pollSeconds
            do {
                let gate = try await self.gate(id, wait: wait)
                lastSeen = gate
                backoff.reset()
                if gate.state.isDecided { return gate }
            } catch let error where error.isRetryable {
                lastError = error
                var delay = backoff.next()
                if let giveUp { delay = min(delay, max(0, Self.seconds(clock.now.duration(to: giveUp)))) }
                onRetry(error, delay)
                try? await Task.sleep(for: .seconds(delay))
            }
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: Transport

    private func encode(_ value: some Encodable) throws(ClientError) -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try JSONEncoder().encode(value))
        } catch {
            throw .invalidResponse("could not encode the request: \(error)")
        }
    }

    private func send<T: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        body: ByteBuffer? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(30),
        as type: T.Type
    ) async throws(ClientError) -> T {
        let data = try await fetch(method, path, body: body, headers: headers, timeout: timeout)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw .invalidResponse("\(error)")
        }
    }

    /// The decided gate's C2SP `tlog-proof` (`GET /v1/gates/{id}/proof`), as its text. 503 while the decision is not
    /// yet in a published checkpoint.
    public func gateProof(_ id: String) async throws(ClientError) -> String {
        let data = try await fetch(.GET, "/v1/gates/\(Self.pathComponent(id))/proof", accept: "text/plain")
        guard let text = String(validating: data, as: UTF8.self) else { throw .invalidResponse("the proof is not UTF-8 text") }
        return text
    }

    /// The approved gate's DSSE envelope (`GET /v1/gates/{id}/attestation`), as its JSON bytes.
    public func attestation(_ id: String) async throws(ClientError) -> Data {
        try await fetch(.GET, "/v1/gates/\(Self.pathComponent(id))/attestation")
    }

    /// The deploy record of a gate (`GET /v1/gates/{id}/evidence`, auditor tokens), as its JSON bytes.
    public func evidence(_ id: String) async throws(ClientError) -> Data {
        try await fetch(.GET, "/v1/gates/\(Self.pathComponent(id))/evidence")
    }

    /// The audit log's latest published checkpoint (`GET /v1/audit/log/checkpoint`, auditor tokens), as its text.
    public func checkpoint() async throws(ClientError) -> String {
        let data = try await fetch(.GET, "/v1/audit/log/checkpoint", accept: "text/plain")
        guard let text = String(validating: data, as: UTF8.self) else { throw .invalidResponse("the checkpoint is not UTF-8 text") }
        return text
    }

    /// The consistency proof between two sizes of the audit log (`GET /v1/audit/proof/consistency`), base64 hashes.
    public func consistencyProof(from: UInt64, to: UInt64) async throws(ClientError) -> [String] {
        struct Proof: Decodable { var consistency: [String] }
        return try await send(.GET, "/v1/audit/proof/consistency?from=\(from)&to=\(to)", as: Proof.self).consistency
    }

    private static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? text
    }

    /// A request's answer body, once its status is a success; the API's error otherwise.
    private func fetch(
        _ method: HTTPMethod,
        _ path: String,
        body: ByteBuffer? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(30),
        accept: String = "application/json"
    ) async throws(ClientError) -> Data {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "greenlight-cli")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch {
            throw .unreachable(Self.describe(error))
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(status) else {
            let error = try? JSONDecoder().decode(ErrorBody.self, from: data)
            let code = error?.error ?? "http_\(status)"
            let message = error?.message ?? String(decoding: data.prefix(300), as: UTF8.self)
            switch status {
            case 401: throw .unauthorized(message)
            case 403: throw .forbidden(code: code, message: message)
            case 500...: throw .server(status: status, message: message)
            default: throw .refused(status: status, code: code, message: message)
            }
        }
        return data
    }

    private static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("remoteConnectionClosed") { return "the connection was closed" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "timed out" }
        return text
    }
}

/// Printed without its token, whatever prints it.
extension GreenlightClient: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "GreenlightClient(server: \(server), token: \(token == nil ? "none" : "<redacted>"))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["server": server, "token": token == nil ? "none" : "<redacted>"], displayStyle: .struct)
    }
}
