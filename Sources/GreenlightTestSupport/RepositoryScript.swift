import Foundation

/// A script of this repository's `scripts/`, run with the `python3` on `PATH`: how the tests ask an implementation
/// Greenlight did not write (the independent verifiers) what it makes of Greenlight's output.
public enum RepositoryScript {
    /// The repository's root, from this file's place in it.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `scripts/<name>` with `arguments`; returns its exit status and both streams, in the order written.
    public static func python(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/\(name)").path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .newlines))
    }
}
