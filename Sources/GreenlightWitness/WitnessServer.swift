import Foundation
import GreenlightTransparency
import Hummingbird
import NIOCore

/// The witness's HTTP interface: `POST /add-checkpoint` (C2SP `tlog-witness`), and `GET /` saying what it is.
public enum WitnessServer {
    /// The longest request read: a checkpoint, its signatures and 63 proof lines are a few kilobytes.
    public static let requestLimit = 64 * 1024

    public static func router(_ witness: Witness) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "a C2SP tlog-witness: POST /add-checkpoint\nverifier key: \(witness.key.verifier)\n")))
        }
        router.post("add-checkpoint") { request, _ -> Response in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: requestLimit)
            } catch {
                return text(.contentTooLarge, "the request is over \(requestLimit) bytes\n")
            }
            guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
                return Self.text(.badRequest, "the request is not UTF-8\n")
            }
            switch witness.addCheckpoint(text) {
            case .cosigned(let lines):
                return Self.text(.ok, lines)
            case .conflict(let size):
                return Response(
                    status: .conflict, headers: [.contentType: "text/x.tlog.size"], body: .init(byteBuffer: ByteBuffer(string: "\(size)\n")))
            case .refused(let status, let message):
                return Self.text(HTTPResponse.Status(code: status), message + "\n")
            }
        }
        return router
    }

    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
