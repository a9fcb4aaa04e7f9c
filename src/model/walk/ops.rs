//! The opcodes that change where the walk reads or what it has read so far: FRAME, STOP,
//! BUILD (which may read a joblib array inline) and the joblib array reads themselves.

use super::*;

impl<'a, 'c, 'm> Walk<'a, 'c, 'm> {
    pub(in crate::model) fn frame(&mut self, at: usize, n: u64) -> Result<(), Halt> {
        let left = self.data.len().saturating_sub(self.file_pos);
        let len = usize::try_from(n).unwrap_or(usize::MAX);
        if len > left {
            // The C unpickler refuses this frame, the Python one runs what it holds: go on.
            self.soft(at, format!("FRAME of {n} bytes, only {left} left"))?;
        }
        if self.mode != Mode::Joblib {
            if self.frame_end.is_some_and(|fe| self.file_pos < fe) {
                // The C unpickler re-reads from the stream when the new frame is not in its
                // buffer (see `crossing`); the Python one refuses it.
                self.note(
                    at,
                    "FRAME before the end of the current frame: pickle.load from a stream \
                     reads different opcodes from here than pickle.loads"
                        .into(),
                );
            }
            self.frame_end = Some(self.file_pos.saturating_add(len.min(left)));
        }
        if self.mode == Mode::Joblib {
            if self.ctx.frame.as_ref().is_some_and(|f| f.cur < f.end) {
                return Err(Halt::Problem(
                    at,
                    "new frame before the end of the current one".into(),
                ));
            }
            let start = self.file_pos;
            let end = start.saturating_add(len.min(left));
            self.ctx.frame = Some(Frame { cur: start, end });
            self.file_pos = end;
        }
        Ok(())
    }

    pub(in crate::model) fn stop(&mut self, at: usize) -> Result<(), Halt> {
        self.pop(at)?;
        if let Some(outer) = self.outer.take() {
            // An object array's nested pickle ended: its frame is dropped with it, and the
            // wrapper on the outer stack becomes the array.
            self.ctx = outer;
            if let Some(top) = self.ctx.stack.last_mut() {
                *top = Val::Other;
            }
            return Ok(());
        }
        self.stopped_at = Some(self.file_pos);
        // Several pickles in one file (legacy torch.save, repeated dumps): go on when the next
        // byte starts another protocol 2+ pickle. (Anything else after STOP is left alone:
        // legacy torch files end in raw storage bytes, which would read as noise.)
        if self.data.get(self.file_pos) == Some(&op::PROTO) {
            self.ctx = Ctx::new(self.mode == Mode::Joblib);
            return Ok(());
        }
        Err(Halt::End)
    }

    pub(in crate::model) fn build(&mut self, at: usize, inst: Val, state: Val) -> Result<(), Halt> {
        match inst {
            Val::Global(g) => {
                // No legitimate pickle sets state on a class or function: this overwrites
                // attributes of imported code (monkeypatching through BUILD).
                self.used(at, &Val::Global(g.clone()));
                self.col.escalate(&g, at);
                self.soft(
                    at,
                    format!("BUILD sets attributes on the imported {}", g.path),
                )?;
            }
            Val::Obj(o) => match &*o {
                Obj::Dtype { state: s, .. } => s.set(dtype_state(&state)),
                Obj::Wrapper(attrs) if self.ctx.arrays => {
                    merge_wrapper_state(attrs, &state, |v| self.text(v));
                    let read = wrapper_read(attrs).map_err(|why| {
                        Halt::Problem(at, format!("joblib array at BUILD cannot be followed ({why}); rest not inspected"))
                    })?;
                    self.read_array(at, read)?;
                }
                Obj::Wrapper(_) => {}
            },
            Val::Unknown if self.ctx.arrays && self.wrapper_seen => {
                return Err(Halt::Problem(
                    at,
                    "BUILD of an object made by an unrecognised call while a joblib NumpyArrayWrapper is in the stream: \
                     joblib may read array bytes here; rest not inspected"
                        .into(),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    pub(in crate::model) fn read_array(&mut self, at: usize, read: ArrayRead) -> Result<(), Halt> {
        let start = self.file_pos;
        self.diverged_at.get_or_insert(start);
        match read {
            ArrayRead::Raw { padded, bytes } => {
                let mut pos = start;
                if padded {
                    let pad = *self.data.get(pos).ok_or_else(|| self.truncated(pos, 1))?;
                    pos += 1 + usize::from(pad);
                }
                let end = usize::try_from(bytes)
                    .ok()
                    .and_then(|b| pos.checked_add(b))
                    .filter(|&e| e <= self.data.len())
                    .ok_or_else(|| {
                        Halt::Problem(
                            at,
                            format!("joblib array of {bytes} bytes runs past the end"),
                        )
                    })?;
                self.file_pos = end;
                if let Some(top) = self.ctx.stack.last_mut() {
                    *top = Val::Other;
                }
            }
            ArrayRead::Nested => {
                // joblib reads object arrays with a fresh plain unpickler from the file
                // position; this one resumes (with its frame) when that pickle stops.
                let outer = std::mem::replace(&mut self.ctx, Ctx::new(false));
                self.outer = Some(outer);
            }
        }
        Ok(())
    }
}
