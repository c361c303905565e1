//! Building RESPONSE datagrams: a fresh continuation (copied from the template, with the
//! emission's seq, state and window), sealed; the packet nonce; the stream bytes read from the
//! application at the offset the seq maps to.

use crate::app::{AppError, Application};
use crate::crypto::{Key, TAG_LEN};
use crate::wire::continuation::Continuation;
use crate::wire::response::{ResponseRepr, FLAG_FIN, FLAG_RETRANSMISSION, RESPONSE_FIXED_LEN};

use super::seal::{seal, PSEUDO_HEADER_LEN};
use super::step::Emission;

/// Everything shared by the packets one request releases.
pub struct BuildContext<'a, A: Application + ?Sized> {
    /// Sealing key (current epoch).
    pub key: &'a Key,
    /// Key of the connection's nonce stream (the epoch named by its token base).
    pub nonce_key: &'a Key,
    /// Pseudo-header of the client.
    pub pseudo: &'a [u8; PSEUDO_HEADER_LEN],
    /// Connection id.
    pub conn_id: u64,
    /// Echo value to return.
    pub echo: u32,
    /// The application.
    pub app: &'a A,
    /// Continuation the new ones are derived from (stream mapping, ucont, token base).
    pub template: Continuation<'a>,
    /// Server time stamped into the new continuations.
    pub now_micros: u64,
    /// Smoothed RTT to carry.
    pub mrtt: u32,
}

/// Size of the datagram carrying a full packet of this stream.
pub fn full_packet_len(template: &Continuation<'_>) -> usize {
    RESPONSE_FIXED_LEN + template.body_len() + TAG_LEN + usize::from(template.mss)
}

/// Build the datagram for one emission.
pub fn build<A: Application + ?Sized>(
    ctx: &BuildContext<'_, A>,
    e: &Emission,
) -> Result<Vec<u8>, AppError> {
    let t = &ctx.template;
    let cont = Continuation {
        epoch: ctx.key.epoch(),
        state: e.state,
        seq: e.seq,
        timestamp: ctx.now_micros,
        mrtt: ctx.mrtt,
        tcp_base: e.params.tcp_base,
        start_cwnd: e.params.start_cwnd,
        ssthresh: e.params.ssthresh,
        first_loss: e.first_loss,
        first_bootstrap_seq: e.first_bootstrap_seq,
        ..*t
    };
    let (offset, len) = cont
        .data_range(e.seq)
        .ok_or_else(|| AppError::Internal("seq outside stream".into()))?;
    let mut flags = 0;
    if e.seq == cont.last_seq() {
        flags |= FLAG_FIN;
    }
    if e.retransmission {
        flags |= FLAG_RETRANSMISSION;
    }
    let cont_len = cont.body_len() + TAG_LEN;
    let mut out = Vec::with_capacity(RESPONSE_FIXED_LEN + cont_len + len);
    let nonce = ctx.nonce_key.packet_nonce(cont.token_base, e.seq);
    ResponseRepr::emit_prefix(&mut out, ctx.conn_id, nonce, ctx.echo, flags, cont_len);
    let body_start = out.len();
    cont.emit_body(&mut out);
    let tag = seal(ctx.key, ctx.pseudo, &out[body_start..]);
    out.extend_from_slice(&tag);
    let data_start = out.len();
    out.resize(data_start + len, 0);
    let n = ctx
        .app
        .read_at(cont.ucont, offset, &mut out[data_start..])?;
    if n != len {
        return Err(AppError::Changed);
    }
    Ok(out)
}
