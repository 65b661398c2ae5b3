import Crypto
import Foundation
import GreenlightAudit
import GreenlightCore

/// The secret half of a token: `glt_` and 40 random base-62 characters (~238 bits), shown once at creation.
public enum TokenSecret {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return "glt_" + String((0..<40).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    /// The SHA-256 of the secret, hex-encoded: what the store keeps and looks tokens up by.
    ///
    /// A plain hash (not a slow password hash) is enough because secrets are long and random; looking up by
    /// hash means no secret-dependent comparison happens in application code.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).hexEncoded
    }
}

extension AuditDraft {
    /// The `token.created` event of a token an operator issued.
    public static func tokenCreated(_ token: AccessToken, secretHash: String? = nil) -> AuditDraft {
        AuditDraft(TokenCreated(token, secretHash: secretHash), by: Principal.operator.actor, at: token.createdAt)
    }
}

extension TokenRecords {
    /// Stores `token` under the hash of its secret, with its `token.created` audit event.
    public func createToken(_ token: AccessToken, secretHash: String) async throws {
        try await createToken(token, secretHash: secretHash, audit: .tokenCreated(token, secretHash: secretHash))
    }
}
