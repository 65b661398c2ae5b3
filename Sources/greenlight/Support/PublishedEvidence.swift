import ArgumentParser
import Foundation
import GreenlightClient

/// What `audit proof` and `attest fetch` share: a gate's evidence fetched from the server, asked again while it answers
/// 503 (the decision not yet in a published checkpoint, about a second after it), then written out.
enum PublishedEvidence {
    /// How long a just-decided gate's evidence is waited for.
    static let wait: Duration = .seconds(30)

    static func fetch(
        _ server: ServerOptions, to output: String?, _ body: (GreenlightClient) async throws(ClientError) -> [UInt8]
    ) async throws {
        let client = try server.client()
        let deadline = ContinuousClock.now + wait
        var bytes: [UInt8]?
        while bytes == nil {
            do throws(ClientError) {
                bytes = try await body(client)
            } catch {
                guard case .server(503, _) = error, ContinuousClock.now < deadline else { throw Exit.fail(error, server: server.resolvedServer) }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        let sink = try OutputFile(output)
        try sink.write(bytes ?? [])
        try sink.close()
    }
}
