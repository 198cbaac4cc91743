"""The vendor's Python SDK (licensespring==4.0.0, unmodified) against our License API.

Run by scripts/sdk_test.sh (make test), which serves the API and sets: API_DOMAIN (host:port),
MANAGEMENT_API_KEY (the Management API, to make products and licenses and to read what the
License API did), LICENSE_API_KEY, LICENSE_SHARED_KEY, LICENSE_API_PUBLIC_KEY (a PEM path) and
SDK_TMP (a directory for license files). Each test asserts the SDK's own results and the
Management API's view of the same license.
"""

import json
import os
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from wsgiref.handlers import format_date_time

from Crypto.PublicKey import RSA
from licensespring.api import APIClient, authorization
from licensespring.api.error import ClientError
from licensespring.api.signature import SignatureVerifier
from licensespring.hardware import HardwareIdProvider
from licensespring.licensefile.bundle_manager import BundleManager
from licensespring.licensefile.config import Configuration
from licensespring.licensefile.error import ErrorType, LicenseStateException
from licensespring.licensefile.license_manager import LicenseID, LicenseManager
from licensespring.licensefile.object_parser.customer import Customer

DOMAIN = os.environ["API_DOMAIN"]
PUBLIC_KEY = open(os.environ["LICENSE_API_PUBLIC_KEY"]).read()
RUN = uuid.uuid4().hex[:8]
PRODUCT = f"sdk{RUN}"


class Verifier(SignatureVerifier):
    """The SDK's own verifier, holding this deployment's public key (LICENSE-API.md §2.4)."""

    PUBLIC_KEY = PUBLIC_KEY


class OtherVerifier(SignatureVerifier):
    """A verifier holding a public key that is not ours: every response must fail it."""

    PUBLIC_KEY = RSA.generate(2048).publickey().export_key().decode()


class Device(HardwareIdProvider):
    """A constant device (class-level: the SDK calls get_id unbound, LICENSE-API.md §7.4)."""

    def get_id(self):
        return "sdk-device-1"

    def get_ip(self):
        return "127.0.0.1"


def management(method, path, body=None):
    """A Management API call: (status, JSON)."""
    request = urllib.request.Request(
        f"http://{DOMAIN}/api/v1/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Api-Key {os.environ['MANAGEMENT_API_KEY']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def new_license(key, **properties):
    """A license of the test product with `key`: its id."""
    body = {"id": f"order-{key}", "items": [{"product_code": PRODUCT, "licenses": [dict(key=key, **properties)]}]}
    status, order = management("POST", "orders/create_order/", body)
    assert status == 200, order
    return order["order_items"][0]["licenses"][0]["id"]


def connection(verifier=Verifier, shared_key=None, domain=DOMAIN):
    """What Configuration and APIClient both take: the credentials, the server, the verifier."""
    return dict(
        api_key=os.environ["LICENSE_API_KEY"],
        shared_key=shared_key or os.environ["LICENSE_SHARED_KEY"],
        api_protocol="http",
        api_domain=domain,
        signature_verifier=verifier,
        hardware_id_provider=Device,
    )


def configuration(verifier=Verifier, shared_key=None, product=PRODUCT):
    return Configuration(
        product=product,
        file_path=tempfile.mkdtemp(dir=os.environ.get("SDK_TMP")),
        grace_period_conf=0,
        is_guard_file_enabled=False,
        **connection(verifier, shared_key),
    )


def api_client(verifier=Verifier, shared_key=None, domain=DOMAIN):
    return APIClient(**connection(verifier, shared_key, domain))


class TamperingProxy(BaseHTTPRequestHandler):
    """A man in the middle: forwards each request to the API and changes one value of the JSON
    it answers, keeping the LicenseSignature header as it came."""

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "accept-encoding")}
        request = urllib.request.Request(f"http://{DOMAIN}{self.path}", data=body, method=self.command, headers=headers)
        try:
            response = urllib.request.urlopen(request)
        except urllib.error.HTTPError as error:
            response = error
        answer = json.loads(response.read())
        if isinstance(answer, dict) and "max_activations" in answer:
            answer["max_activations"] += 100
        data = json.dumps(answer).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if response.headers.get("LicenseSignature"):
            self.send_header("LicenseSignature", response.headers["LicenseSignature"])
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


class LicenseApiBySdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        status, product = management("POST", "products/", {"product_name": "SDK", "short_code": PRODUCT})
        assert status == 201, product
        feature = {"product": product["id"], "name": "Export", "code": "export", "feature_type": "consumption", "max_consumption": 5}
        status, body = management("POST", "product-features/", feature)
        assert status == 201, body

    def test_consumption_features_and_device_variables_sync(self):
        key = f"SDK-{RUN}-use"
        license_id = new_license(
            key, license_type="consumption", max_consumptions=10, product_features=[{"code": "export", "max_consumption": 5}]
        )
        license = LicenseManager(configuration()).activate_license(LicenseID.from_key(key))
        license.add_local_consumption(3)
        license.sync_consumption()
        self.assertEqual((license.total_consumptions(), license.local_consumptions()), (3, 0))
        license.add_local_feature_consumption("export", 2)
        license.sync_feature_consumption("export")
        license.check_feature("export")
        self.assertEqual(license.get_feature_data("export")["total_consumptions"], 2)
        license.set_device_variables({"seats": "3"})
        license.send_device_variables()
        variables = license.get_device_variables()
        self.assertEqual([(v["variable"], v["value"]) for v in variables], [("seats", "3")])
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual(managed["total_consumptions"], 3)
        self.assertEqual(managed["product_features"][0]["total_consumptions"], 2)

    def test_key_based_activate_check_reload_and_deactivate(self):
        key = f"SDK-{RUN}-1"
        license_id = new_license(key, max_activations=2)
        conf = configuration()
        manager = LicenseManager(conf)
        self.assertTrue(manager.is_online())
        license = manager.activate_license(LicenseID.from_key(key))
        self.assertTrue(license.license_active())
        self.assertTrue(license.license_enabled())
        self.assertEqual(license.id(), license_id)
        self.assertEqual(license.max_activations(), 2)
        self.assertIsNotNone(license.check())
        license.local_check()
        details = license.product_details()
        self.assertEqual(details["short_code"], PRODUCT)

        # A restart: the license file is read back and checks again.
        reloaded = LicenseManager(conf).load_license()
        self.assertEqual(reloaded.key(), key)
        self.assertIsNotNone(reloaded.check())

        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((status, managed["status"], managed["total_active_devices"]), (200, "Active", 1))
        self.assertEqual(managed["last_activation_device"], "sdk-device-1")

        reloaded.deactivate()
        self.assertFalse(reloaded.license_active())
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((managed["status"], managed["total_active_devices"]), ("Inactive", 0))

    def test_user_based_activation_with_the_initial_password_then_change_password(self):
        email = f"user-{RUN}@example.com"
        body = {"id": f"order-user-{RUN}", "items": [{"product_code": PRODUCT, "licenses": [{"users": [{"email": email}]}]}]}
        status, order = management("POST", "orders/create_order/", body)
        self.assertEqual(status, 200, order)
        created = order["order_items"][0]["licenses"][0]
        initial = created["license_users"][0]["initial_password"]
        license = LicenseManager(configuration()).activate_license(LicenseID.from_user(email, initial))
        self.assertTrue(license.license_active())
        self.assertEqual(license.id(), created["id"])
        self.assertIsNotNone(license.check())
        self.assertTrue(license.change_password(initial, "a brand new secret"))
        status, users = management("GET", f"license-users/?true_email={email}")
        self.assertEqual(users["results"][0]["is_initial_password"], False)
        with self.assertRaises(ClientError) as raised:
            LicenseManager(configuration()).activate_license(LicenseID.from_user(email, initial))
        self.assertEqual(raised.exception.code, "unknown_user_or_password")

    def test_a_trial_license_is_given_once_and_activates(self):
        trial_product = f"trial{RUN}"
        status, body = management("POST", "products/", {"product_name": "Trial", "short_code": trial_product, "trial_days": 7})
        self.assertEqual(status, 201, body)
        manager = LicenseManager(configuration(product=trial_product))
        trial = manager.get_trial_license(Customer(email=f"trial-{RUN}@example.com"))
        license = manager.activate_license(trial)
        self.assertTrue(license.is_trial())
        self.assertTrue(license.license_active())
        status, managed = management("GET", f"licenses/{license.id()}/")
        self.assertEqual((status, managed["is_trial"], managed["status"]), (200, True, "Active"))
        self.assertEqual(managed["customer"]["email"], f"trial-{RUN}@example.com")
        with self.assertRaises(ClientError) as raised:
            manager.get_trial_license(Customer(email=f"trial-{RUN}@example.com"))
        self.assertEqual(raised.exception.code, "trial_already_used")

    def test_two_devices_racing_for_the_last_activation_get_one_seat(self):
        key = f"SDK-{RUN}-race"
        license_id = new_license(key, max_activations=1)
        results = []

        def activate(hardware_id):
            try:
                api_client().activate_license(product=PRODUCT, license_key=key, hardware_id=hardware_id)
                results.append("ok")
            except ClientError as error:
                results.append(error.code)

        threads = [threading.Thread(target=activate, args=(f"racer-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(sorted(results), ["license_activated_max_times", "ok"])
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((managed["times_activated"], managed["total_active_devices"]), (1, 1))

    def test_a_disabled_license_is_reported_by_the_sdk_as_not_enabled(self):
        key = f"SDK-{RUN}-off"
        license_id = new_license(key)
        license = LicenseManager(configuration()).activate_license(LicenseID.from_key(key))
        status, _ = management("POST", f"licenses/{license_id}/disable/", {})
        self.assertEqual(status, 200)
        with self.assertRaises(LicenseStateException) as raised:
            license.check()
        self.assertEqual(raised.exception.error_type, ErrorType.LICENSE_NOT_ENABLED)
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((managed["enabled"], managed["total_active_devices"]), (False, 1))

    def test_an_expired_license_is_refused(self):
        key = f"SDK-{RUN}-old"
        license_id = new_license(key, license_type="time-limited", validity_period="2020-01-01")
        with self.assertRaises(ClientError) as raised:
            LicenseManager(configuration()).activate_license(LicenseID.from_key(key))
        self.assertEqual(raised.exception.code, "license_expired")
        self.assert_never_activated(license_id)

    def assert_never_activated(self, license_id):
        """The Management API's view of a refused license: no device, no activation entry."""
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((status, managed["times_activated"], managed["total_active_devices"]), (200, 0, 0))
        status, devices = management("GET", f"devices/?license={license_id}")
        self.assertEqual(devices["count"], 0)
        status, history = management("GET", f"license-activation-histories/?license={license_id}")
        self.assertEqual(history["count"], 0)

    def test_a_vm_on_a_prevent_vm_license_is_refused(self):
        key = f"SDK-{RUN}-vm"
        license_id = new_license(key, prevent_vm=True)
        with self.assertRaises(ClientError) as raised:
            api_client().activate_license(product=PRODUCT, license_key=key, is_vm=True)
        self.assertEqual(raised.exception.code, "vm_not_allowed")
        self.assert_never_activated(license_id)

    def test_a_wrong_shared_key_and_a_foreign_signature_are_rejected(self):
        key = f"SDK-{RUN}-creds"
        license_id = new_license(key)
        with self.assertRaises(ClientError) as raised:
            api_client(shared_key="not the shared key").activate_license(product=PRODUCT, license_key=key)
        self.assertEqual((raised.exception.status, raised.exception.code), (403, "invalid_signature"))
        # Our responses fail a verifier holding another key: the SDK checks every signature.
        self.assert_never_activated(license_id)
        with self.assertRaises(ValueError):
            api_client(verifier=OtherVerifier).activate_license(product=PRODUCT, license_key=key)

    def test_a_stale_date_and_a_tampered_body_are_rejected(self):
        key = f"SDK-{RUN}-tamper"
        new_license(key, max_activations=3)
        # A device whose clock is 6 minutes slow: its requests are refused (Date within ±5 min).
        slow = lambda: format_date_time(time.time() - 360)
        with mock.patch.object(authorization, "date_header_value", slow):
            with self.assertRaises(ClientError) as raised:
                api_client().activate_license(product=PRODUCT, license_key=key)
        self.assertEqual((raised.exception.status, raised.exception.code), (403, "authorization_date_skew"))
        # A body changed on its way: the SDK's own check of our signature refuses it.
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), TamperingProxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            with self.assertRaises(ValueError):
                api_client(domain=f"127.0.0.1:{proxy.server_port}").activate_license(product=PRODUCT, license_key=key)
        finally:
            proxy.shutdown()
            proxy.server_close()
        # Unchanged, the same answer verifies.
        self.assertEqual(api_client().activate_license(product=PRODUCT, license_key=key)["max_activations"], 3)

    def test_a_floating_seat_is_borrowed_and_released(self):
        key = f"SDK-{RUN}-float"
        properties = dict(is_floating_cloud=True, floating_users=1, floating_timeout=30, can_borrow=True, max_borrow_time=24)
        license_id = new_license(key, max_activations=2, **properties)
        license = LicenseManager(configuration()).activate_license(LicenseID.from_key(key))
        self.assertTrue(license.is_floating())
        self.assertIsNotNone(license.check())
        self.assertEqual((license.floating_in_use_devices(), license.floating_timeout()), (1, 30))
        # The only seat is this device's: another device is refused.
        with self.assertRaises(ClientError) as raised:
            api_client().activate_license(product=PRODUCT, license_key=key, hardware_id="sdk-device-2")
        self.assertEqual(raised.exception.code, "no_floating_seats_available")

        until = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
        license.floating_borrow(until.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.assertTrue(license.is_borrowed())
        self.assertEqual(license.borrow_until().replace(tzinfo=timezone.utc), until)
        status, devices = management("GET", f"devices/?license={license_id}")
        device = devices["results"][0]
        self.assertEqual((device["floating_in_use"], device["borrowed_until"]), (True, until.strftime("%Y-%m-%dT%H:%M:%SZ")))

        license.floating_release(throw_e=True)
        self.assertFalse(license.is_borrowed())
        status, managed = management("GET", f"licenses/{license_id}/")
        self.assertEqual((managed["floating_in_use_devices"], managed["times_activated"]), (0, 1))
        api_client().activate_license(product=PRODUCT, license_key=key, hardware_id="sdk-device-2")

    def test_a_bundle_is_activated_checked_and_deactivated(self):
        members = [f"m{i}{RUN}" for i in (1, 2)]
        for code in members:
            status, product = management("POST", "products/", {"product_name": code, "short_code": code})
            self.assertEqual(status, 201, product)
            policy = {"product": product["id"], "name": code, "code": f"{code}-p", "max_activations": 1}
            status, body = management("POST", "license-templates/", policy)
            self.assertEqual(status, 201, body)
        bundle = f"suite{RUN}"
        status, body = management(
            "POST", "products/", {"product_name": "Suite", "short_code": bundle, "is_bundle": True, "bundle_products": members}
        )
        self.assertEqual(status, 201, body)
        key = f"SDK-{RUN}-bundle"
        licenses = [{"key": key, "product_code": code, "policy_code": f"{code}-p"} for code in members]
        order = {"id": f"order-{key}", "is_bundle": True, "items": [{"product_code": bundle, "licenses": licenses}]}
        status, body = management("POST", "orders/create_order/", order)
        self.assertEqual(status, 200, body)

        manager = BundleManager(configuration(product=bundle))
        activated = manager.activate_bundle(LicenseID.from_key(key))
        self.assertEqual(sorted(activated), sorted(members))
        self.assertTrue(all(license.license_active() for license in activated.values()))
        checked = manager.check_bundle(LicenseID.from_key(key))
        self.assertEqual(sorted(checked), sorted(members))
        status, page = management("GET", f"licenses/?license_key={key}")
        self.assertEqual([l["times_activated"] for l in page["results"]], [1, 1, 1])

        manager.deactivate_bundle(LicenseID.from_key(key))
        status, page = management("GET", f"licenses/?license_key={key}")
        self.assertEqual([l["times_activated"] for l in page["results"]], [0, 0, 0])


if __name__ == "__main__":
    unittest.main()
