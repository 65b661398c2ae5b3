import Foundation
import GreenlightCore

/// One problem found in a policy file, located precisely enough to fix without searching:
/// `greenlight.yaml:14: environments.production.require[0].count: 5 is more than the 4 members of group 'platform-leads'`.
public struct PolicyDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        case error
        case warning
    }

    public var severity: Severity
    public var file: String
    /// 1-based line, when the problem has a place in the file.
    public var line: Int?
    /// The dotted path of the key: `environments.production.timeout`.
    public var key: String
    public var message: String

    public init(severity: Severity = .error, file: String, line: Int?, key: String, message: String) {
        self.severity = severity
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        let subject = key.isEmpty ? "" : "\(key): "
        return "\(place): \(severity.rawValue): \(subject)\(message)"
    }
}

/// A policy that cannot be used. Carries every error found, not just the first.
public struct PolicyValidationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [PolicyDiagnostic]

    public init(diagnostics: [PolicyDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
