"""Pages for people who follow an emailed link in a browser: accept an invitation, confirm an email
address, choose a new password. Plain Django forms (CSRF, no JavaScript) over the same services as the
JSON API (core.accounts); the links in the emails point here."""

from django import forms
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from core import accounts
from core.errors import ApplicationError, error_text

TEMPLATE = "core/account_page.html"


class AcceptInviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="New here? Choose one. Already have an account? Its "
                                                         "username.")
    password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput,
                               help_text="For a new account: at least 10 characters, not a common one.")


class SignUpPasswordForm(forms.Form):
    password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput,
                               help_text="The one you chose when you signed up.")


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(max_length=128, strip=False, widget=forms.PasswordInput, label="New password")


def _page(request, status=200, **context):
    return render(request, TEMPLATE, {"admin_url": reverse("admin:index"), **context}, status=status)


def _done(request, title: str, message: str):
    return _page(request, title=title, message=message, done=True)


class AcceptInvitePage(View):
    def get(self, request, token):
        return accept_invite(request, token)

    post = get


class VerifyEmailPage(View):
    def get(self, request, key):
        return verify_email(request, key)

    post = get


class ResetPasswordPage(View):
    def get(self, request, uid, token):
        return reset_password(request, uid, token)

    post = get


def _link_page(request, *, title: str, form_class, act, done: tuple[str, str], message: str, button: str,
               dead_title: str = ""):
    """The form behind an emailed link, then its service (`act(**cleaned_data)`): a link that died meanwhile is
    a 410, a refusal is said on the form, success is the page `done` (title, text)."""
    form = form_class(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            act(**form.cleaned_data)
        except accounts.LinkNotValid as exc:
            return _page(request, 410, title=dead_title or title, message=exc.message)
        except ApplicationError as exc:
            form.add_error(None, error_text(exc))
        else:
            return _done(request, *done)
    return _page(request, 400 if form.is_bound else 200, title=title, message=message, form=form, button=button)


def accept_invite(request, token):
    try:
        invitation = accounts.invitation_pending(token=token)
    except accounts.LinkNotValid as exc:
        return _page(request, 410, title="Invitation", message=exc.message)
    return _link_page(
        request, title=f"Join {invitation.tenant.name}", dead_title="Invitation", form_class=AcceptInviteForm,
        act=lambda **fields: accounts.invitation_accept(token=token, request=request, **fields),
        done=("Welcome", f"Done: you are now a member of {invitation.tenant.name}. Sign in to the admin, or get "
                         "API tokens with POST /api/auth/token."),
        message=f"You are invited to {invitation.tenant.name} as {invitation.get_role_display().lower()}. Create "
                "an account, or give the username and password of the one you have.",
        button="Accept the invitation")


def verify_email(request, key):
    try:
        accounts.email_verification_pending(key=key)
    except accounts.LinkNotValid as exc:
        return _page(request, 410, title="Confirm your email", message=exc.message)
    return _link_page(
        request, title="Confirm your email", form_class=SignUpPasswordForm,
        act=lambda **fields: accounts.email_verify(key=key, **fields),
        done=("Email confirmed", "Done: your account is active. Sign in to the admin, or get API tokens with "
                                 "POST /api/auth/token."),
        message="Confirm this address, with the password you chose when you signed up, to activate your account.",
        button="Confirm")


def reset_password(request, uid, token):
    try:
        accounts.password_reset_user(uid=uid, token=token)
    except accounts.LinkNotValid as exc:
        return _page(request, 410, title="Choose a new password", message=exc.message)
    return _link_page(
        request, title="Choose a new password", form_class=NewPasswordForm,
        act=lambda **fields: accounts.password_reset_confirm(uid=uid, token=token, **fields),
        done=("Password changed", "Done: sign in with your new password. Devices that were signed in must sign "
                                  "in again."),
        message="Choose a new password for your account.", button="Set the password")
