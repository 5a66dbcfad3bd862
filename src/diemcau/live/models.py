"""The persisted record of a live meeting: attendance, floor, roll calls, chat, state.

`LiveState` holds what every client must agree on (main source, floor, mutes, the event
sequence number); the other tables are the record that minutes are made from. All of it is
changed only through `live.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Site


class LiveState(models.Model):
    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="live_state")
    # Every change increments seq; clients apply events in order and ask for a snapshot
    # when they see a gap (after a reconnect, or a missed message).
    seq = models.PositiveBigIntegerField(default=0)
    main_source = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    floor = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Sites whose microphone the chair allowed outside the floor (open mic), by site id.
    open_mics = models.JSONField(default=list)
    # Sites the chair muted explicitly (also enforced in Janus), by site id.
    muted = models.JSONField(default=list)
    screen_share = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    announcement = models.TextField(blank=True)
    # Each site's publisher ids, random and issued per connection (sfu/feeds.py):
    # {site id: {"camera": id, "screen": id, "conn": attendance id, "ready": bool}}.
    # A camera is named to pages ("feeds" section) only once it is ready: Janus has it and
    # the site's mute has been applied to it.
    feeds = models.JSONField(default=dict)
    # Each site's simulcast layers (live/linkpolicy.py), for sites not simply on the top
    # layer: {site id: {"auto": {layer, reason, kbps, loss, since} | None,
    # "pin": {layer, since} | None, "weak": {since} | None}}; pages see `linkpolicy.effective`
    # of each (the "links" section). Changed only when a decision changes.
    links = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("live state")

    def __str__(self) -> str:
        return f"{self.meeting} #{self.seq}"


class Attendance(models.Model):
    """One connection of a site to a live meeting: from join to leave (or drop)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="attendance")
    joined_at = models.DateTimeField(_("joined at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    # "left" (closed the page), "dropped" (connection lost), "ended" (meeting ended).
    left_reason = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["joined_at"]
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")
        indexes = [models.Index(fields=["meeting", "site", "left_at"])]

    def __str__(self) -> str:
        return f"{self.site.code} {self.joined_at:%H:%M}–{self.left_at or ''}"


class LinkChange(models.Model):
    """A change of the layers a site receives (live/linkpolicy.py): the minutes' technical
    annex tells from these which sites ran degraded, and for how long."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="link_changes")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"))
    layer = models.CharField(_("layer"), max_length=20)  # one of linkpolicy.LADDER
    by = models.CharField(_("decided by"), max_length=10)  # auto, pinned, weak_mode
    reason = models.CharField(_("reason"), max_length=10)  # loss, freeze, bandwidth, ...

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("link change")
        verbose_name_plural = _("link changes")
        indexes = [models.Index(fields=["meeting", "site", "at"])]

    def __str__(self) -> str:
        return f"{self.site_id} {self.at:%H:%M:%S} {self.layer} ({self.by}, {self.reason})"


class FloorStatus(models.TextChoices):
    WAITING = "waiting", _("waiting")
    GRANTED = "granted", _("speaking")
    DONE = "done", _("finished")
    DECLINED = "declined", _("declined")
    CANCELLED = "cancelled", _("withdrawn")


class FloorRequest(models.Model):
    """A site's request to speak, and — once granted — its turn on the floor (the log)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="floor_requests")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="floor_requests")
    topic = models.CharField(_("topic"), max_length=300, blank=True)
    status = models.CharField(
        max_length=10, choices=FloorStatus.choices, default=FloorStatus.WAITING
    )
    requested_at = models.DateTimeField(_("requested at"), null=True, blank=True)
    granted_at = models.DateTimeField(_("granted at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        verbose_name = _("floor request")
        verbose_name_plural = _("floor requests")

    def __str__(self) -> str:
        return f"{self.site.code}: {self.topic or '—'} ({self.status})"


class RollCall(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="roll_calls")
    number = models.PositiveIntegerField(_("number"))
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["number"]
        verbose_name = _("roll call")
        verbose_name_plural = _("roll calls")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "number"], name="roll_call_number")
        ]

    def __str__(self) -> str:
        return f"{self.meeting} #{self.number}"


class RollCallAnswer(models.Model):
    roll_call = models.ForeignKey(RollCall, on_delete=models.CASCADE, related_name="answers")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    delegates_present = models.PositiveIntegerField(_("delegates present"))
    answered_at = models.DateTimeField(_("answered at"))
    # Who at HQ confirmed a number far above the site's expected delegates (else empty).
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("roll-call answer")
        verbose_name_plural = _("roll-call answers")
        constraints = [
            models.UniqueConstraint(fields=["roll_call", "site"], name="one_answer_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.delegates_present}"


class HeldRollCallAnswer(models.Model):
    """A roll-call answer far above the site's expected delegates (services.roll_call_limit):
    not counted anywhere until HQ confirms it, when it becomes the site's `RollCallAnswer`.
    A site's earlier answer in the same roll call stays counted meanwhile."""

    roll_call = models.ForeignKey(RollCall, on_delete=models.CASCADE, related_name="held")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    delegates_present = models.PositiveIntegerField(_("delegates present"))
    answered_at = models.DateTimeField(_("answered at"))

    class Meta:
        verbose_name = _("roll-call answer waiting for HQ")
        verbose_name_plural = _("roll-call answers waiting for HQ")
        constraints = [
            models.UniqueConstraint(fields=["roll_call", "site"], name="one_held_answer_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.delegates_present}?"


class ChatMessage(models.Model):
    """Chat and announcements. An announcement comes from HQ and is shown as a banner."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="chat")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("text"), max_length=2000)
    announcement = models.BooleanField(_("announcement"), default=False)
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        ordering = ["sent_at", "pk"]
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")

    def __str__(self) -> str:
        return self.text[:50]


class Counting(models.TextChoices):
    PER_SITE = "site", _("one vote per site")
    PER_DELEGATE = "delegates", _("per delegate, counted by each site")
    INDIVIDUAL = "individual", _("delegates vote individually from their own phones")


class Motion(models.Model):
    """A vote (biểu quyết) the chair puts to the meeting."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="motions")
    number = models.PositiveIntegerField(_("number"))
    text = models.TextField(_("motion"), max_length=1000)
    options = models.JSONField(_("options"), default=list)
    counting = models.CharField(
        _("counting"), max_length=10, choices=Counting.choices, default=Counting.PER_SITE
    )
    secret = models.BooleanField(_("secret ballot"), default=False)
    # Valid only if at least this share of those eligible voted (sites invited, or delegates
    # present at the last roll call); adopted if the first option gets more than
    # `majority_percent` of the votes cast.
    quorum_percent = models.PositiveSmallIntegerField(_("quorum (%)"), default=50)
    majority_percent = models.PositiveSmallIntegerField(_("majority (%)"), default=50)
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Filled when closed: {"tally", "cast", "eligible", "sites_voted", "quorum", "adopted"}
    result = models.JSONField(_("result"), null=True, blank=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("vote")
        verbose_name_plural = _("votes")
        constraints = [models.UniqueConstraint(fields=["meeting", "number"], name="motion_number")]

    def __str__(self) -> str:
        return f"{self.number}. {self.text[:60]}"


class Ballot(models.Model):
    """One site's vote: its choice (per site), or its room's counts per option (per delegate)."""

    motion = models.ForeignKey(Motion, on_delete=models.CASCADE, related_name="ballots")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    # A delegate voting individually: a pseudonym of their voting code for this vote
    # (votingcodes.ballot_key), so one code votes once whatever phone it is used on.
    voter = models.CharField(max_length=32, blank=True, default="")
    counts = models.JSONField(_("counts"))  # {option: number}; per site: {choice: 1}
    cast_at = models.DateTimeField(_("cast at"))

    class Meta:
        verbose_name = _("ballot")
        verbose_name_plural = _("ballots")
        constraints = [
            models.UniqueConstraint(
                fields=["motion", "site"], condition=models.Q(voter=""), name="one_ballot_per_site"
            ),
            models.UniqueConstraint(
                fields=["motion", "voter"],
                condition=~models.Q(voter=""),
                name="one_ballot_per_delegate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.counts}"


class VotingCode(models.Model):
    """A delegate's personal credential for individual votes: code number `number` of a site
    in a meeting (live/votingcodes.py; docs/live.md, "Voting codes"). The code itself is not
    stored: it is derived from the installation's secret and `generation`, and only its
    keyed digest is kept to find it again."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="voting_codes")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(_("number"))
    # Bumped when HQ or the site's operator gives the number a new code (a lost card, a
    # phone that was reset): the old code stops working, the voter stays the same.
    generation = models.PositiveIntegerField(default=0)
    digest = models.CharField(max_length=64, db_index=True, editable=False)
    # The phone using it: the random voter key of that delegate session (empty: unused).
    claim = models.CharField(max_length=32, blank=True, default="", editable=False)
    claimed_at = models.DateTimeField(_("in use since"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        ordering = ["site", "number"]
        verbose_name = _("voting code")
        verbose_name_plural = _("voting codes")
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "site", "number"], name="one_voting_code_per_number"
            ),
            models.UniqueConstraint(fields=["meeting", "digest"], name="voting_code_unique"),
            # One phone (delegate session) uses one code at a time.
            models.UniqueConstraint(
                fields=["meeting", "claim"],
                condition=~models.Q(claim=""),
                name="one_voting_code_per_phone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meeting_id}/{self.site_id} no. {self.number}"
