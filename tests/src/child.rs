//! Child processes the tests own: killed and reaped when dropped, their
//! output collected on threads.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Kills and reaps a child when dropped, unless it has been reaped already.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    pub(crate) child: Option<Child>,
}

impl ChildGuard {
    pub(crate) fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child process was already reaped")
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub(crate) fn wait_timeout(
        &mut self,
        timeout: Duration,
    ) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child().try_wait()? {
                self.child = None;
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGKILL and reaps the child.
    pub(crate) fn kill(&mut self) -> std::io::Result<ExitStatus> {
        let child = self.child();
        // Killing a child that already exited is not an error worth reporting.
        let _ = child.kill();
        let status = child.wait()?;
        self.child = None;
        Ok(status)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Collects a child's stream into a shared buffer on a thread.
pub(crate) fn collect(
    mut stream: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let handle = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap_or_else(PoisonError::into_inner).extend(&chunk[..n]),
            }
        }
    });
    (buffer, handle)
}

/// The text collected so far (decoded only now, so no character is split).
pub(crate) fn text(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

pub(crate) fn lock(buffer: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    buffer.lock().unwrap_or_else(PoisonError::into_inner)
}
