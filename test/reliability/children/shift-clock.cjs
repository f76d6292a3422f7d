// Preload (node --require): shifts this process's wall clock by CLOCK_SHIFT_MS (Date and
// Date.now), as a machine whose clock is ahead or behind would see it. Monotonic clocks stay.
const shift = Number(process.env.CLOCK_SHIFT_MS || 0);
const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + shift);
    else super(...args);
  }
  static now() {
    return RealDate.now() + shift;
  }
}
globalThis.Date = ShiftedDate;
