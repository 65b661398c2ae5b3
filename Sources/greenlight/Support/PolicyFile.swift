import ArgumentParser
import Foundation
import GreenlightCore
import GreenlightPolicyFile
import GreenlightServer

/// Reads a policy file, or the built-in policy when no file is named.
enum PolicyFile {
    static func load(_ path: String?) throws -> Policy {
        guard let path else { return BuiltInPolicy.policy }
        let (policy, warnings) = try parse(path)
        for warning in warnings { printError(warning.description) }
        return policy
    }

    /// Parses `path`, printing its errors (at most ``PolicyLimits/maximumDiagnostics``, then how many more) and exiting
    /// 64 if the policy cannot be used.
    static func parse(_ path: String) throws -> (Policy, [PolicyDiagnostic]) {
        let text: String
        do {
            text = try PolicyFileReader.contents(of: path)
        } catch {
            throw Exit.fail(error.description)
        }
        do {
            return try PolicyParser(file: path).parse(text)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw Exit.usage
        }
    }
}
