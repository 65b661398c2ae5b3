import Crypto
import Foundation
import GreenlightCore

extension Policy {
    /// SHA-256 of a policy document, hex-encoded: the `policy_hash` every gate records.
    public static func hash(of document: String) -> String {
        SHA256.hash(data: Data(document.utf8)).hexEncoded
    }
}
