//! gdbstub's blocking event loop while the target runs: whichever comes first, a byte from
//! gdb (Ctrl-C) or a stop of the target, polled in short slices.

use super::conn::GdbConn;
use super::run::Stop;
use super::target::{Fault, ProxyTarget};
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use std::marker::PhantomData;
use std::time::Duration;

/// How long one wait for the target lasts before gdb's side is looked at again.
const POLL: Duration = Duration::from_millis(20);

/// The event loop of a session whose target borrows for `'a`.
pub(crate) struct EventLoop<'a>(PhantomData<&'a ()>);

impl<'a> BlockingEventLoop for EventLoop<'a> {
    type Target = ProxyTarget<'a>;
    type Connection = GdbConn;
    type StopReason = Stop;

    fn wait_for_stop_reason(
        target: &mut ProxyTarget<'a>,
        conn: &mut GdbConn,
    ) -> Result<Event<Stop>, WaitForStopReasonError<Fault, std::io::Error>> {
        // gdbstub leaves the ack of the resume unflushed: gdb resends a packet it gets no
        // ack for within its timeout (2 s).
        conn.flush().map_err(WaitForStopReasonError::Connection)?;
        loop {
            if conn.stop_requested() {
                return Err(WaitForStopReasonError::Connection(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "the proxy is stopping",
                )));
            }
            if conn
                .peek()
                .map_err(WaitForStopReasonError::Connection)?
                .is_some()
            {
                let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                return Ok(Event::IncomingData(byte));
            }
            if let Some(stop) = target.poll_stop(POLL) {
                return Ok(Event::TargetStopped(stop));
            }
        }
    }

    fn on_interrupt(target: &mut ProxyTarget<'a>) -> Result<Option<Stop>, Fault> {
        tracing::debug!("gdb interrupts the target");
        Ok(target.interrupt())
    }
}
