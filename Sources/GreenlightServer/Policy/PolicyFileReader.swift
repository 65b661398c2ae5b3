import Foundation
import GreenlightCore
import GreenlightPolicyFile

/// Why a policy file could not be read.
public enum PolicyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Missing, unreadable, a directory…: `reason` is the system's word for it.
    case unreadable(path: String, reason: String)
    /// Larger than ``PolicyLimits/maximumDocumentBytes``; not read to the end.
    case tooLarge(path: String)
    case notUTF8(path: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read the policy file \(path): \(reason)"
        case .tooLarge(let path):
            "the policy file \(path) is larger than \(PolicyLimits.maximumDocumentBytes) bytes (4 MiB), the most a policy may be"
        case .notUTF8(let path): "the policy file \(path) is not UTF-8 text"
        }
    }
}

/// Reads policy files for `serve`, its reloads and the CLI, never more than a policy may be.
public enum PolicyFileReader {
    /// The text of the file at `path`. Reads at most one byte past the limit, so that a huge file (or `/dev/zero`) is
    /// refused without being loaded.
    public static func contents(of path: String) throws(PolicyFileError) -> String {
        // Non-blocking, so that a FIFO at the path (nobody writing) cannot hang the reloader, and with it shutdown.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let type = status.st_mode & S_IFMT
        guard type != S_IFIFO, type != S_IFSOCK else { throw .unreadable(path: path, reason: "it is a pipe or a socket, not a file") }
        let limit = PolicyLimits.maximumDocumentBytes
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        guard bytes.count <= limit else { throw .tooLarge(path: path) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8(path: path) }
        return text
    }
}
