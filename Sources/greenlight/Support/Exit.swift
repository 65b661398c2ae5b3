import ArgumentParser
import Foundation
import GreenlightAPI
import GreenlightClient
import GreenlightCore

/// The exit codes of DESIGN.md 3.1 (the 64+ ones are the BSD `sysexits.h` values scripts already know).
enum Exit {
    static let approved = ExitCode(0)
    static let rejected = ExitCode(1)
    static let timedOut = ExitCode(2)
    static let cancelled = ExitCode(3)
    static let usage = ExitCode(64)
    static let unavailable = ExitCode(69)
    static let notAuthorized = ExitCode(77)

    /// The exit code that tells a pipeline what a decided gate means. A fail-open timeout proceeds (0): the policy
    /// wrote down that silence approves.
    static func code(for gate: GateResource) -> ExitCode {
        switch gate.state {
        case .approved: approved
        case .rejected: rejected
        case .timedOut: gate.outcome == .approved ? approved : timedOut
        case .cancelled: cancelled
        case .pending: timedOut
        }
    }

    /// Prints one line saying what was wrong and what to do, and returns the matching exit code.
    static func fail(_ error: ClientError, server: String) -> ExitCode {
        switch error {
        case .unreachable:
            printError("\(error.description) (\(server)); is 'greenlight serve' running there? Set --server or GREENLIGHT_SERVER")
            return unavailable
        case .server:
            printError(error.description)
            return unavailable
        case .unauthorized, .forbidden:
            printError(error.description)
            return notAuthorized
        case .refused, .invalidResponse:
            printError("error: \(error.description)")
            return usage
        }
    }

    static func fail(_ message: String, code: ExitCode = usage) -> ExitCode {
        printError("error: \(message)")
        return code
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
