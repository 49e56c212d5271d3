//! EAP-TTLS phase 2 (RFC 5281): the Diameter AVPs a client sends inside the tunnel — User-Name
//! with User-Password (PAP), or with MS-CHAP-Challenge and MS-CHAP2-Response (MS-CHAPv2) — and
//! the MS-CHAP2-Success AVP the server answers with.

const AVP_USER_NAME: u32 = 1;
const AVP_USER_PASSWORD: u32 = 2;
const AVP_EAP_MESSAGE: u32 = 79;
const MS_CHAP_CHALLENGE: u32 = 11;
const MS_CHAP2_RESPONSE: u32 = 25;
const MS_CHAP2_SUCCESS: u32 = 26;
const MICROSOFT: u32 = 311;
const FLAG_VENDOR: u8 = 0x80;
const FLAG_MANDATORY: u8 = 0x40;

/// The inner credentials of one phase-2 message.
#[derive(Default, Debug)]
pub struct Avps {
    pub user_name: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub ms_chap_challenge: Option<Vec<u8>>,
    pub ms_chap2_response: Option<Vec<u8>>,
    /// An inner EAP method (TTLS/EAP-MSCHAPv2 and the like): not supported.
    pub eap: bool,
}

pub fn parse(mut data: &[u8]) -> Result<Avps, String> {
    let mut out = Avps::default();
    while !data.is_empty() {
        if data.len() < 8 {
            return Err("truncated AVP header".into());
        }
        let code = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let flags = data[4];
        let len = u32::from_be_bytes([0, data[5], data[6], data[7]]) as usize;
        let header = if flags & FLAG_VENDOR != 0 { 12 } else { 8 };
        if len < header || len > data.len() {
            return Err(format!("AVP {code} of length {len}"));
        }
        let vendor = if header == 12 {
            u32::from_be_bytes([data[8], data[9], data[10], data[11]])
        } else {
            0
        };
        let value = data[header..len].to_vec();
        match (vendor, code) {
            (0, AVP_USER_NAME) => out.user_name = Some(value),
            (0, AVP_USER_PASSWORD) => {
                // Padded with zeros to a multiple of 16 (RFC 5281 §11.2.5).
                let end = value.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                out.password = Some(value[..end].to_vec());
            }
            (0, AVP_EAP_MESSAGE) => out.eap = true,
            (MICROSOFT, MS_CHAP_CHALLENGE) => out.ms_chap_challenge = Some(value),
            (MICROSOFT, MS_CHAP2_RESPONSE) => out.ms_chap2_response = Some(value),
            _ if flags & FLAG_MANDATORY != 0 => {
                return Err(format!(
                    "unsupported mandatory AVP {code} (vendor {vendor})"
                ))
            }
            _ => {}
        }
        let padded = len.div_ceil(4) * 4;
        data = &data[padded.min(data.len())..];
    }
    Ok(out)
}

/// The MS-CHAP2-Success AVP: the response's identifier and the authenticator response.
pub fn ms_chap2_success(ident: u8, authenticator_response: &str) -> Vec<u8> {
    let mut value = vec![ident];
    value.extend_from_slice(authenticator_response.as_bytes());
    let len = 12 + value.len();
    let mut out = MS_CHAP2_SUCCESS.to_be_bytes().to_vec();
    out.push(FLAG_VENDOR | FLAG_MANDATORY);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&MICROSOFT.to_be_bytes());
    out.extend_from_slice(&value);
    out.resize(len.div_ceil(4) * 4, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avp(code: u32, vendor: Option<u32>, value: &[u8]) -> Vec<u8> {
        let header = if vendor.is_some() { 12 } else { 8 };
        let len = header + value.len();
        let mut out = code.to_be_bytes().to_vec();
        out.push(if vendor.is_some() { 0xc0 } else { 0x40 });
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        if let Some(v) = vendor {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(value);
        out.resize(len.div_ceil(4) * 4, 0);
        out
    }

    #[test]
    fn pap_and_mschapv2_avps_are_read_and_padding_is_dropped() {
        let mut data = avp(1, None, b"alice");
        data.extend(avp(2, None, b"Winter2026!\0\0\0\0\0"));
        let a = parse(&data).unwrap();
        assert_eq!(a.user_name.as_deref(), Some(&b"alice"[..]));
        assert_eq!(a.password.as_deref(), Some(&b"Winter2026!"[..]));
        let mut data = avp(11, Some(311), &[1; 16]);
        data.extend(avp(25, Some(311), &[2; 50]));
        let a = parse(&data).unwrap();
        assert_eq!(a.ms_chap_challenge.unwrap().len(), 16);
        assert_eq!(a.ms_chap2_response.unwrap().len(), 50);
        assert!(
            parse(&avp(999, None, b"x")).is_err(),
            "a mandatory unknown AVP"
        );
        assert!(
            parse(&[0, 0, 0, 1, 0x40, 0, 0, 99]).is_err(),
            "a length past the end"
        );
    }
}
