extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte: how Greenlight writes every hash, MAC and digest.
    public var hexEncoded: String {
        map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}
