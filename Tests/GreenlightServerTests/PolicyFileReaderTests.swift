import Foundation
import GreenlightCore
import GreenlightPolicyFile
import Testing

@testable import GreenlightServer

/// Policy files are read with a bound (issue 16): a file larger than a policy may be is refused without being loaded.
@Suite("Policy file reader")
final class PolicyFileReaderTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greenlight-reader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @Test("a policy is read whole, up to 4 MiB")
    func reads() throws {
        let text = "# " + String(repeating: "é", count: (PolicyLimits.maximumDocumentBytes - 3) / 2) + "\n"
        #expect(text.utf8.count <= PolicyLimits.maximumDocumentBytes)
        try text.write(toFile: path("greenlight.yaml"), atomically: true, encoding: .utf8)
        #expect(try PolicyFileReader.contents(of: path("greenlight.yaml")) == text)
    }

    @Test("what cannot be a policy is refused with the reason, and a huge file is not loaded to find out")
    func refuses() throws {
        #expect(throws: PolicyFileError.unreadable(path: path("missing.yaml"), reason: "No such file or directory")) {
            try PolicyFileReader.contents(of: path("missing.yaml"))
        }
        #expect(throws: PolicyFileError.unreadable(path: directory.path, reason: "Is a directory")) {
            try PolicyFileReader.contents(of: directory.path)
        }
        // Sparse, so that writing it costs nothing; read whole it would be 1 GiB.
        FileManager.default.createFile(atPath: path("huge.yaml"), contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path("huge.yaml")))
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        #expect(throws: PolicyFileError.tooLarge(path: path("huge.yaml"))) { try PolicyFileReader.contents(of: path("huge.yaml")) }
        #expect(throws: PolicyFileError.tooLarge(path: "/dev/zero")) { try PolicyFileReader.contents(of: "/dev/zero") }
        // A FIFO nobody writes to would block a plain open() for good, and the reloader (and shutdown) with it.
        #expect(mkfifo(path("fifo.yaml"), 0o600) == 0)
        #expect(throws: PolicyFileError.unreadable(path: path("fifo.yaml"), reason: "it is a pipe or a socket, not a file")) {
            try PolicyFileReader.contents(of: path("fifo.yaml"))
        }
        FileManager.default.createFile(atPath: path("latin1.yaml"), contents: Data([0x61, 0x3A, 0x20, 0xE9, 0x0A]))
        #expect(throws: PolicyFileError.notUTF8(path: path("latin1.yaml"))) { try PolicyFileReader.contents(of: path("latin1.yaml")) }
    }

    @Test("the reasons read as one line a person can act on")
    func descriptions() {
        #expect(
            PolicyFileError.unreadable(path: "g.yaml", reason: "Permission denied").description
                == "cannot read the policy file g.yaml: Permission denied")
        #expect(
            PolicyFileError.tooLarge(path: "g.yaml").description
                == "the policy file g.yaml is larger than 4194304 bytes (4 MiB), the most a policy may be")
    }
}
