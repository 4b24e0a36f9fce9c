"""The catheter's dead space as a FIFO: what leaves the pump enters the catheter; what leaves the tip
(into the patient) is the fluid that entered `volume_pl` earlier.

Fed with the firmware's cumulative counts (delivered_pl, delivered_pg: the same count as the report's
delivered_ul and delivered_mcg) at points between which the concentration leaving the pump is
constant (the runner feeds it before every refill and at every sample). Each feed adds one segment of
uniform concentration; a segment that leaves the tip in part takes a proportional share of its mass
(floor, integer pg), so delivered = tip + in the catheter, exactly, at every point.

The catheter starts full of drug-free fluid (a new implant primed with saline, or CSF): nothing reaches
the patient until the catheter's volume has been pushed (`prime` does that). During a bridge bolus the
pump pushes the new concentration at the old drug's rate while the tip still gives the old drug: the
tip's count is the dose the patient gets.
"""

from collections import deque


class CatheterFifo:
    def __init__(self, volume_pl):
        if volume_pl < 0:
            raise ValueError("a catheter volume cannot be negative")
        self.volume_pl = volume_pl
        self._segments = deque([[volume_pl, 0]]) if volume_pl else deque()   # [pl, pg], oldest first
        self._held_pl = volume_pl
        self._last = (0, 0)
        self.tip_pl = 0          # volume that left the tip (drug-free priming fluid included)
        self.tip_pg = 0          # drug that left the tip

    def held_pg(self):
        return sum(seg[1] for seg in self._segments)

    def feed(self, delivered_pl, delivered_pg):
        """The pump's cumulative counts now; returns tip_pg."""
        dv = delivered_pl - self._last[0]
        dm = delivered_pg - self._last[1]
        self._last = (delivered_pl, delivered_pg)
        if dv > 0 or dm > 0:
            self._segments.append([max(dv, 0), dm])
            self._held_pl += max(dv, 0)
        self._push_out()
        return self.tip_pg

    def resize(self, volume_pl):
        """A new catheter volume (the clinician's setting) from now on: a smaller one pushes the oldest
        fluid out to the tip; a larger one holds more before anything more leaves."""
        self.volume_pl = volume_pl
        self._push_out()

    def _push_out(self):
        while self._held_pl > self.volume_pl and self._segments:
            seg = self._segments[0]
            out_pl = min(seg[0], self._held_pl - self.volume_pl)
            if out_pl == seg[0]:
                out_pg = seg[1]
                self._segments.popleft()
            else:
                out_pg = seg[1] * out_pl // seg[0]
                seg[0] -= out_pl
                seg[1] -= out_pg
            self._held_pl -= out_pl
            self.tip_pl += out_pl
            self.tip_pg += out_pg
        while self._segments and self._segments[0][0] == 0:     # mass without volume (none in practice)
            self.tip_pg += self._segments.popleft()[1]
