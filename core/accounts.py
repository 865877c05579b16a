"""People: invitations, open sign-up, email verification and password reset.

Built on Django's own primitives rather than django-allauth (whose headless API brings its own session and
token flows, knows nothing of tenants and has no invitations):
- an invitation's secret is `secrets.token_urlsafe(32)`, mailed to the invitee and stored only as its
  SHA-256 hash; it works once (a conditional UPDATE), until it expires, unless revoked;
- an email verification link is `django.core.signing` (salted, timestamped, EMAIL_VERIFICATION_DAYS), made
  single-use by the address's `verified_at`;
- a password reset link is `django.contrib.auth.tokens.default_token_generator`'s (PASSWORD_RESET_TIMEOUT),
  which a new password invalidates.

No answer tells a caller whether an email has an account: register answers 202 either way (an existing
address gets a "you already have an account" mail instead), a reset request answers 202 either way, and
every link that is unknown, used, expired or revoked gets the same refusal.

Emails are rendered here and sent by the Celery task core.send_account_email, queued after commit, so a
slow or failing SMTP server never holds or fails a request."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify

from core import queueing
from core.audit import account_audit
from core.errors import ApplicationError, Conflict, Forbidden, Invalid, NotFound
from core.models import EmailAddress, Invitation, Membership, Tenant
from core.services import refuse_api_keys, staff_sync
from core.tokens import refresh_tokens_blacklist, token_pair

INVITATION_NOT_VALID = "This invitation link is not valid any more; ask for a new one."
VERIFICATION_NOT_VALID = "This verification link is not valid any more; sign up again or ask an admin for help."
RESET_NOT_VALID = "This password reset link is not valid any more; ask for a new one."
VERIFY_SALT = "core.accounts.email-verification"


class LinkNotValid(ApplicationError):
    """A link (invitation, verification, reset) that is unknown, used, expired or revoked: one answer for
    all, so none tells which."""

    status, code = 400, "link_not_valid"
    default_message = INVITATION_NOT_VALID


class SignupClosed(Forbidden):
    code = "signup_closed"
    default_message = "Sign-up is by invitation only: ask a tenant admin to invite you."


# --- links and emails -------------------------------------------------------------------------------


def public_url(path: str, base_url: str = "") -> str:
    """An absolute link: PUBLIC_BASE_URL when set, else the request's own (`base_url`)."""
    base = (settings.PUBLIC_BASE_URL or base_url or "http://localhost:8000").rstrip("/")
    return f"{base}{path}"


def send_account_email(*, to: str, template: str, context: dict) -> None:
    """Render core/email/<template>_subject.txt and <template>.txt and queue their sending after commit."""
    from core.tasks import send_account_email as task

    context = {**context, "site_name": "Emma"}
    subject = " ".join(render_to_string(f"core/email/{template}_subject.txt", context).split())
    body = render_to_string(f"core/email/{template}.txt", context)
    transaction.on_commit(lambda: queueing.publish(task, to, subject, body))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalized_email(email: str) -> str:
    return BaseUserManager.normalize_email(email.strip())


def _mark_verified(user, email: str) -> None:
    """The user proved `email` is theirs: their address, verified (an account with another verified
    address keeps it)."""
    now = timezone.now()
    address = EmailAddress.objects.filter(user=user).first()
    if address is None:
        EmailAddress.objects.create(user=user, email=email, verified_at=now)
    elif address.email.lower() == email.lower() or address.verified_at is None:
        address.email, address.verified_at = email, now
        address.save(update_fields=["email", "verified_at"])
    else:
        return
    if user.email.lower() != email.lower():
        user.email = email
        user.save(update_fields=["email"])


def _check_password(password: str, user) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise Invalid(details={"password": list(exc.messages)}) from None


# --- invitations ------------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, invited_by, base_url: str = "") -> tuple[Invitation, str]:
    """A tenant's invitation to `email` with `role`, and its link (mailed to the invitee; shown nowhere
    else): it works once, for INVITATION_DAYS, unless revoked. Audited in the tenant."""
    refuse_api_keys(invited_by)  # a key inviting an account would make itself a person, with a password
    if role not in Membership.Role.values:
        raise Invalid.field("role", f"role must be one of {', '.join(Membership.Role.values)}")
    email = _normalized_email(email)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant, email=email, role=role, token_hash=_hash(token), invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_DAYS))
    link = public_url(f"/accept-invite/{token}", base_url)
    actor = invited_by.get_username() if invited_by else "system"
    account_audit(tenant_id=tenant.pk, actor=actor, action="invitation.created", object_type="invitation",
                  object_id=invitation.pk, after={"email": email, "role": role,
                                                  "expires_at": invitation.expires_at.isoformat()})
    send_account_email(to=email, template="invitation", context={
        "link": link, "tenant": tenant, "role": invitation.get_role_display(), "inviter": actor,
        "token": token, "days": settings.INVITATION_DAYS,
        "api_url": public_url("/api/auth/accept-invite", base_url)})
    return invitation, link


@transaction.atomic
def invitation_revoke(*, tenant_id: int, invitation_id, actor) -> Invitation:
    """A pending (or expired) invitation of the tenant stops working; revoking it again changes nothing;
    an accepted one cannot be revoked (remove the member instead). Another tenant's is not found."""
    refuse_api_keys(actor)
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id, tenant_id=tenant_id).first()
    if invitation is None:
        raise NotFound("No such invitation in your tenant.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was accepted: remove the member instead.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        account_audit(tenant_id=tenant_id, actor=actor.get_username(), action="invitation.revoked",
                      object_type="invitation", object_id=invitation.pk, before={"status": "pending"},
                      after={"status": "revoked"})
    return invitation


def _pending(token: str):
    return Invitation.objects.filter(token_hash=_hash(token), accepted_at__isnull=True, revoked_at__isnull=True,
                                     expires_at__gt=timezone.now())


def invitation_pending(*, token: str) -> Invitation:
    """The invitation this link's token names, while it can still be accepted; else LinkNotValid."""
    invitation = _pending(token).select_related("tenant").first() if token else None
    if invitation is None:
        raise LinkNotValid(INVITATION_NOT_VALID)
    return invitation


def invitation_accept(*, token: str, username: str = "", password: str = "", user=None, request=None) -> dict:
    """Accept an invitation: the account is `user` (the caller signed in) when no username is given; else
    the account with that username, whose password must match (checked by `authenticate`, so django-axes
    counts failures and locks out), or a new one made with them (Django's password validators). The
    invitation works once: a conditional UPDATE (not accepted, not revoked, not expired) claims it, so two
    acceptances at once cannot both succeed; an unknown, used, revoked or expired one gets one answer.
    The account becomes a member with the invitation's role (staff for approvers and admins), its email is
    verified, and the answer is a token pair acting in the invitation's tenant. Audited in the tenant.

    Not atomic as a whole: a failed password check must be recorded by django-axes even though the
    acceptance is refused; everything from the claim on is one transaction."""
    invitation = invitation_pending(token=token)
    User = get_user_model()
    existing = None
    if username:
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            account = authenticate(request, username=username, password=password)
            if account is None or getattr(request, "axes_locked_out", False):
                raise Invalid(details={"password": [
                    "This username is taken: if the account is yours, give its password."]})
            existing = account
    elif user is not None and user.is_authenticated:
        existing = user
    else:
        raise Invalid(details={"username": ["Give a username and password (a new account, or yours), or sign "
                                            "in first to join with the account you use."]})
    return _accept(invitation, existing=existing, username=username, password=password)


@transaction.atomic
def _accept(invitation: Invitation, *, existing, username: str, password: str) -> dict:
    now = timezone.now()
    claimed = _pending_by_pk(invitation.pk).update(accepted_at=now)
    if not claimed:
        raise LinkNotValid(INVITATION_NOT_VALID)
    User = get_user_model()
    if existing is None:
        try:
            User._meta.get_field("username").run_validators(username)
        except ValidationError as exc:
            raise Invalid(details={"username": list(exc.messages)}) from None
        if len(username) > User._meta.get_field("username").max_length:
            raise Invalid.field("username", "The username is too long.")
        _check_password(password, User(username=username, email=invitation.email))
        try:
            with transaction.atomic():
                account = User.objects.create_user(username=username, email=invitation.email, password=password)
        except IntegrityError:  # taken between the check and now
            raise Invalid.field("username", "This username is taken: if the account is yours, give its "
                                            "password.") from None
    else:
        account = existing
        if not account.is_active:
            raise LinkNotValid(INVITATION_NOT_VALID)
        if Membership.objects.filter(user=account, tenant_id=invitation.tenant_id).exists():
            raise Conflict(f"You already belong to {invitation.tenant.name}.")
    membership = Membership.objects.create(user=account, tenant_id=invitation.tenant_id, role=invitation.role)
    staff_sync(account)
    _mark_verified(account, invitation.email)
    Invitation.objects.filter(pk=invitation.pk).update(accepted_by=account)
    account_audit(tenant_id=invitation.tenant_id, actor=account.get_username(), action="invitation.accepted",
                  object_type="invitation", object_id=invitation.pk, before={"status": "pending"},
                  after={"status": "accepted", "user": account.get_username(), "role": invitation.role,
                         "new_account": existing is None})
    membership = Membership.objects.select_related("user", "tenant").get(pk=membership.pk)
    return token_pair(membership)


def _pending_by_pk(pk):
    return Invitation.objects.filter(pk=pk, accepted_at__isnull=True, revoked_at__isnull=True,
                                     expires_at__gt=timezone.now())


# --- open sign-up and email verification ------------------------------------------------------------


def _free_slug(name: str) -> str:
    base = slugify(name)[:50].strip("-") or "team"
    taken = set(Tenant.objects.filter(slug__regex=rf"^{base}(-[0-9]+)?$").values_list("slug", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def email_verification_key(user, email: str) -> str:
    return signing.dumps({"user": user.pk, "email": email}, salt=VERIFY_SALT, compress=True)


USERNAME_MAX = 150  # django.contrib.auth's User.username


@transaction.atomic
def signup_register(*, email: str, password: str, tenant_name: str, base_url: str = "") -> None:
    """EMMA_SIGNUP=open only. A new tenant (its slug from the name, made unique with -2, -3 ...) and its first
    admin, whose username is the lower-cased email, inactive until they follow the verification link mailed
    to them. An email that already has an account gets the same answer, and a mail saying so (with where to
    reset the password) instead: the answer never tells whether an address has an account. The password
    is checked first, for both, so a weak one cannot tell them apart either."""
    if settings.EMMA_SIGNUP != "open":
        raise SignupClosed()
    User = get_user_model()
    email = _normalized_email(email)
    if len(email) > USERNAME_MAX:
        raise Invalid.field("email", f"An address of at most {USERNAME_MAX} characters, please: it is your username.")
    _check_password(password, User(username=email.lower(), email=email))
    existing = User.objects.filter(email__iexact=email).select_related("email_address").first()
    if existing is not None and _pending_sign_up(existing):
        # Signed up before and never verified: whoever signs up now gets the link again, with THEIR password,
        # so a stranger who signed up with this address first holds no account once its owner follows it.
        existing.set_password(password)
        existing.save(update_fields=["password"])
        _send_verification(existing, email, base_url)
        return
    if existing is not None:
        make_password(password)  # the same work as a new account's, so the time taken tells nothing either
        send_account_email(to=email, template="account_exists", context={
            "email": email, "reset_url": public_url("/api/auth/password-reset", base_url)})
        return
    # The email is the username, unless someone took it as theirs (a username is any text): then the next free.
    username = _free_username(email.lower())
    for _ in range(5):
        try:
            with transaction.atomic():
                tenant = Tenant.objects.create(slug=_free_slug(tenant_name), name=tenant_name.strip()[:200])
            break
        except IntegrityError:  # another sign-up took the slug meanwhile: the next free one
            continue
    else:
        raise Conflict("Could not find a free name for your tenant; try another name.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password, is_active=False,
                                            is_staff=True)
    except IntegrityError:  # the same address signed up at the same moment: as for an existing account
        transaction.set_rollback(True)
        return
    Membership.objects.create(user=user, tenant=tenant, role=Membership.Role.ADMIN)
    EmailAddress.objects.create(user=user, email=email)
    account_audit(tenant_id=tenant.pk, actor=username, action="account.signed_up", object_type="user",
                  object_id=user.pk, after={"username": username, "tenant": tenant.slug, "role": "admin"})
    _send_verification(user, email, base_url)


def _pending_sign_up(user) -> bool:
    """An account that signed up and never followed its verification link."""
    address = getattr(user, "email_address", None)
    return not user.is_active and address is not None and address.verified_at is None


def _send_verification(user, email: str, base_url: str) -> None:
    key = email_verification_key(user, email)
    tenant = Membership.objects.filter(user=user).select_related("tenant").order_by("created_at").first().tenant
    send_account_email(to=email, template="verify_email", context={
        "link": public_url(f"/verify-email/{key}", base_url), "key": key, "tenant": tenant,
        "username": user.get_username(), "days": settings.EMAIL_VERIFICATION_DAYS,
        "api_url": public_url("/api/auth/verify-email", base_url)})


def _free_username(base: str) -> str:
    User = get_user_model()
    username, number = base, 2
    while User.objects.filter(username__iexact=username).exists():
        suffix = f"-{number}"
        username, number = base[:USERNAME_MAX - len(suffix)] + suffix, number + 1
    return username


def _verification_target(key: str) -> tuple[int, str]:
    try:
        data = signing.loads(key, salt=VERIFY_SALT, max_age=timedelta(days=settings.EMAIL_VERIFICATION_DAYS))
        return int(data["user"]), str(data["email"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, OverflowError):
        raise LinkNotValid(VERIFICATION_NOT_VALID) from None


def email_verification_pending(*, key: str) -> None:
    """Raises LinkNotValid unless the key could still verify its address (a page checks before it asks)."""
    user_id, email = _verification_target(key)
    if not EmailAddress.objects.filter(user_id=user_id, email=email, verified_at__isnull=True).exists():
        raise LinkNotValid(VERIFICATION_NOT_VALID)


@transaction.atomic
def email_verify(*, key: str, password: str) -> dict:
    """Follow a verification link with the password chosen at sign-up: the address is verified and its account
    active; a token pair for the account's tenant. Once only, within EMAIL_VERIFICATION_DAYS; any other key
    gets one answer. The password too, so that whoever follows the link is whoever signed up: a stranger who
    signed up with someone's address cannot have its owner activate the stranger's account with a click."""
    user_id, email = _verification_target(key)
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.check_password(password):
        raise Invalid.field("password", "This is not the password this sign-up chose. If you did not sign up, "
                                        "ignore the email; to sign up with this address, register again.")
    if not EmailAddress.objects.filter(user_id=user_id, email=email, verified_at__isnull=True).update(
            verified_at=timezone.now()):
        raise LinkNotValid(VERIFICATION_NOT_VALID)
    membership = Membership.objects.filter(user=user).select_related("user", "tenant").order_by("created_at").first()
    if membership is None:
        raise LinkNotValid(VERIFICATION_NOT_VALID)
    user.is_active = True
    user.save(update_fields=["is_active"])
    account_audit(tenant_id=membership.tenant_id, actor=user.get_username(), action="account.email_verified",
                  object_type="user", object_id=user.pk, after={"email": email})
    return token_pair(membership)


# --- password reset ---------------------------------------------------------------------------------


def password_reset_request(*, email: str, base_url: str = "") -> None:
    """Queue the search for accounts with this email and their reset mails (password_reset_mail): the
    request does the same work, and takes the same time, whether the address has an account or not."""
    from core.tasks import mail_password_reset

    email = _normalized_email(email)
    transaction.on_commit(lambda: queueing.publish(mail_password_reset, email, base_url))


def password_reset_mail(*, email: str, base_url: str = "") -> None:
    """Mail a reset link to every active account with this email."""
    for user in get_user_model().objects.filter(email__iexact=email, is_active=True):
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        send_account_email(to=user.email, template="password_reset", context={
            "username": user.get_username(), "uid": uid, "token": token,
            "link": public_url(f"/reset-password/{uid}/{token}", base_url),
            "api_url": public_url("/api/auth/password-reset/confirm", base_url),
            "minutes": settings.PASSWORD_RESET_TIMEOUT // 60})


def _user_of_uid(uid: str):
    try:
        pk = force_str(urlsafe_base64_decode(uid))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not pk.isdigit() or len(pk) > 18:
        return None
    return get_user_model().objects.filter(pk=int(pk), is_active=True).first()


def password_reset_user(*, uid: str, token: str):
    """The account a reset link's uid and token name, while the link works; else LinkNotValid."""
    user = _user_of_uid(uid)
    if user is None or not default_token_generator.check_token(user, token):
        raise LinkNotValid(RESET_NOT_VALID)
    return user


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    """Set a new password from a reset link (Django's validators apply). The link then stops working (its
    token hashes the old password), every refresh token of the account is blacklisted (signed-in devices
    must sign in again), and its sign-in lockout is lifted. Audited in each of the account's tenants."""
    user = password_reset_user(uid=uid, token=token)
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    from axes.utils import reset as reset_lockout

    refresh_tokens_blacklist(user=user)
    reset_lockout(username=user.get_username())
    for membership in Membership.objects.filter(user=user):
        account_audit(tenant_id=membership.tenant_id, actor=user.get_username(), action="account.password_reset",
                      object_type="user", object_id=user.pk)
