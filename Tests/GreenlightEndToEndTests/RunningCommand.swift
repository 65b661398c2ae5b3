import Foundation
import Synchronization

/// A `greenlight` process started by a test, whose output can be awaited line by line.
///
/// Output is read as it arrives, on a thread per stream, so a test can wait for "listening on …" or a gate id without
/// sleeping, and a child that writes a lot never blocks on a full pipe.
final class RunningCommand: Sendable {
    struct Finished: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Both streams, for messages in failed expectations.
        var output: String { "stdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var openStreams = 2
        var status: Int32?
        var lineWaiters: [(String, CheckedContinuation<String?, Never>)] = []
        var exitWaiters: [CheckedContinuation<Finished, Never>] = []

        var finished: Finished? {
            guard let status, openStreams == 0 else { return nil }
            return Finished(status: status, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
        }

        /// The first complete line of either stream containing `text`.
        func line(containing text: String) -> String? {
            for data in [stdout, stderr] {
                let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                if let line = lines.first(where: { $0.contains(text) }) { return String(line) }
            }
            return nil
        }
    }

    private let state = Mutex(State())
    nonisolated(unsafe) private let process: Process
    let arguments: [String]

    /// Starts the built `greenlight` with `arguments` and `environment` added to this process's own.
    static let auditState = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-e2e-audit-state-\(UUID().uuidString).json").path

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        self.arguments = arguments
        let process = Process()
        process.executableURL = Binary.greenlight
        process.arguments = arguments
        // What `audit verify` remembers goes to a file of this test run's, not the home directory's.
        process.environment = ProcessInfo.processInfo.environment.merging(["GREENLIGHT_AUDIT_STATE": Self.auditState]) { $1 }
            .merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        self.process = process
        process.terminationHandler = { [weak self] process in
            self?.terminated(process.terminationStatus)
        }
        // Tests start processes concurrently. Without close-on-exec, a child started a moment later inherits the
        // write ends of this child's pipes and holds them open, and this child's output never reaches end-of-file.
        // The lock keeps another spawn from forking between the pipes' creation and the flag being set.
        let pipes = try Self.spawnLock.withLock { _ in
            let pipes = (stdout: Pipe(), stderr: Pipe())
            for pipe in [pipes.stdout, pipes.stderr] {
                for handle in [pipe.fileHandleForReading, pipe.fileHandleForWriting] {
                    _ = fcntl(handle.fileDescriptor, F_SETFD, FD_CLOEXEC)
                }
            }
            process.standardOutput = pipes.stdout
            process.standardError = pipes.stderr
            try process.run()
            return pipes
        }
        // One thread per stream, blocking in read(2) until end-of-file. (FileHandle's readabilityHandler was tried
        // first: on Linux its dispatch source can outlive the handle's file descriptor and crash the test process.)
        for (pipe, isStdout) in [(pipes.stdout, true), (pipes.stderr, false)] {
            let thread = Thread { [weak self] in
                // The pipe is captured, so its descriptor stays open until this loop is done with it.
                let descriptor = pipe.fileHandleForReading.fileDescriptor
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = read(descriptor, &buffer, buffer.count)
                    if count > 0 {
                        self?.received(Data(buffer[0..<count]), isStdout: isStdout)
                    } else if count < 0, errno == EINTR {
                        continue
                    } else {
                        // Closed here, at end-of-file, not whenever the pipe is freed: a long run (the chaos run
                        // starts thousands of commands) must not pile up descriptors.
                        try? pipe.fileHandleForReading.close()
                        self?.received(Data(), isStdout: isStdout)
                        return
                    }
                }
            }
            thread.start()
        }
    }

    private static let spawnLock = Mutex(())

    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` (SIGTERM, SIGKILL …) to the process.
    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// The first line of output containing `text`, once it has been written; `nil` if the process ends first.
    /// A cancelled wait (a test over its time limit) kills the process, so that the test fails instead of hanging.
    func line(containing text: String) async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> String?? in
                    if let line = state.line(containing: text) { return .some(line) }
                    if state.finished != nil { return .some(nil) }
                    state.lineWaiters.append((text, continuation))
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            signal(SIGKILL)
        }
    }

    /// Everything written so far, both streams: what a long-running server said, for a failed expectation's message.
    var written: String {
        state.withLock { "stdout:\n\(String(decoding: $0.stdout, as: UTF8.self))\nstderr:\n\(String(decoding: $0.stderr, as: UTF8.self))" }
    }

    /// The exit status and everything written, once the process has ended.
    func finished() async -> Finished {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Finished? in
                    if let finished = state.finished { return finished }
                    state.exitWaiters.append(continuation)
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        } onCancel: {
            signal(SIGKILL)
        }
    }

    private func received(_ data: Data, isStdout: Bool) {
        let (lines, exits) = state.withLock { state -> ([(CheckedContinuation<String?, Never>, String?)], [CheckedContinuation<Finished, Never>]) in
            if data.isEmpty {
                state.openStreams -= 1
            } else if isStdout {
                state.stdout.append(data)
            } else {
                state.stderr.append(data)
            }
            return settle(&state)
        }
        resume(lines, exits)
    }

    private func terminated(_ status: Int32) {
        let (lines, exits) = state.withLock { state in
            state.status = status
            return settle(&state)
        }
        resume(lines, exits)
    }

    private func settle(_ state: inout State) -> ([(CheckedContinuation<String?, Never>, String?)], [CheckedContinuation<Finished, Never>]) {
        var lines: [(CheckedContinuation<String?, Never>, String?)] = []
        let done = state.finished
        var waiting: [(String, CheckedContinuation<String?, Never>)] = []
        for (text, continuation) in state.lineWaiters {
            if let line = state.line(containing: text) {
                lines.append((continuation, line))
            } else if done != nil {
                lines.append((continuation, nil))
            } else {
                waiting.append((text, continuation))
            }
        }
        state.lineWaiters = waiting
        var exits: [CheckedContinuation<Finished, Never>] = []
        if done != nil {
            exits = state.exitWaiters
            state.exitWaiters = []
        }
        return (lines, exits)
    }

    private func resume(_ lines: [(CheckedContinuation<String?, Never>, String?)], _ exits: [CheckedContinuation<Finished, Never>]) {
        for (continuation, line) in lines { continuation.resume(returning: line) }
        if !exits.isEmpty {
            let finished = state.withLock { $0.finished }!
            for continuation in exits { continuation.resume(returning: finished) }
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Where the built executable is: beside the test bundle, or `GREENLIGHT_BINARY`.
enum Binary {
    static let greenlight: URL = {
        if let path = ProcessInfo.processInfo.environment["GREENLIGHT_BINARY"] { return URL(fileURLWithPath: path) }
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return executable.deletingLastPathComponent().appendingPathComponent("greenlight")
    }()
}
