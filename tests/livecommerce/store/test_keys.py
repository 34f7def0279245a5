"""Key names are stored data: a deployment that upgrades finds everything it wrote before.

Each string below is the one the key had before the keys module built it; a renamed key would
strand rooms, sales, orders, payments, webhook deliveries and limits already in Redis.
"""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from livecommerce.store import keys

PINNED = [
    (keys.room("R"), "lc:{r:R}:room"),
    (keys.room_events("R"), "lc:{r:R}:events"),
    (keys.room_channel("R"), "lc:{r:R}:bus"),
    (keys.account("A"), "lc:{u:A}:account"),
    (keys.username_claim("ada"), "lc:{n:ada}:username"),
    (keys.account_deleted("A"), "lc:{u:A}:deleted"),
    (keys.revoked_session("S"), "lc:{s:S}:revoked"),
    (keys.admins(), "lc:{acct}:admins"),
    # What accounts/upgrade.py moves from: the names before accounts spread over the slots.
    (keys.legacy_account("A"), "lc:{acct}:account:A"),
    (keys.legacy_accounts_by_username(), "lc:{acct}:by_username"),
    (keys.legacy_deleted_accounts(), "lc:{acct}:deleted"),
    (keys.legacy_revoked_session("S"), "lc:{revoked}:S"),
    (keys.legacy_revoked_sessions(), "lc:{revoked}:*"),
    (keys.upgraded("revoked-sessions"), "lc:upgraded:revoked-sessions"),
    (keys.user_votes("U"), "lc:{u:U}:votes"),
    (keys.sale_hash("R", "S"), "lc:{r:R}:sale:S"),
    (keys.sale_holds("R", "S"), "lc:{r:R}:sale:S:holds"),
    (keys.sale_users("R", "S"), "lc:{r:R}:sale:S:users"),
    (keys.order("R", "O"), "lc:{r:R}:order:O"),
    (keys.order_refund("R", "O"), "lc:{r:R}:order:O:refund"),
    (keys.room_stats("R"), "lc:{r:R}:stats"),
    (keys.room_stats_viewers("R"), "lc:{r:R}:stats:viewers"),
    (keys.room_stats_counted("R"), "lc:{r:R}:stats:counted"),
    (keys.creator_buyers("C"), "lc:{c:C}:buyers"),
    (keys.room_chat_key("R", "U", "K"), "lc:{r:R}:chat:key:U:K"),
    (keys.followers("C"), "lc:{c:C}:followers"),
    (keys.following("U"), "lc:{u:U}:following"),
    (keys.room_reminders("R"), "lc:{r:R}:reminders"),
    (keys.user_reminders("U"), "lc:{u:U}:reminders"),
    (keys.show_notices(), "lc:shows:notices"),
    (keys.reviews("C"), "lc:{c:C}:reviews"),
    (keys.review_pairs("C"), "lc:{c:C}:reviews:pairs"),
    (keys.seller_reviews("C"), "lc:{c:C}:reviews:all"),
    (keys.reviews_reported("C"), "lc:{c:C}:reviews:reported"),
    (keys.reviews_audit("C"), "lc:{c:C}:reviews:audit"),
    (keys.seller_rating("C"), "lc:{c:C}:rating"),
    (keys.product_rating("C", "P"), "lc:{c:C}:product:P:rating"),
    (keys.product_reviews("C", "P"), "lc:{c:C}:product:P:reviews"),
    (keys.review_sellers(), "lc:review_seller"),
    (keys.user_reviews("U"), "lc:{u:U}:reviews"),
    (keys.giveaway("R", "G")[0], "lc:{r:R}:giveaway:G"),
    (keys.giveaway("R", "G")[1], "lc:{r:R}:giveaway:G:entries"),
    (keys.giveaway("R", "G")[2], "lc:{r:R}:giveaway:G:seed"),
    (keys.room_giveaways("R"), "lc:{r:R}:giveaways"),
    (keys.room_live_giveaway("R"), "lc:{r:R}:giveaways:live"),
    (keys.room_last_giveaway("R"), "lc:{r:R}:giveaways:last"),
    (keys.giveaway_rooms(), "lc:giveaway_room"),
    (keys.active_giveaways(), "lc:giveaways:active"),
    (keys.unclaimed_prizes(), "lc:giveaways:unclaimed"),
    (keys.poll("R", "P")[0], "lc:{r:R}:poll:P"),
    (keys.poll("R", "P")[1], "lc:{r:R}:poll:P:votes"),
    (keys.poll("R", "P")[2], "lc:{r:R}:poll:P:right"),
    (keys.poll("R", "P")[3], "lc:{r:R}:poll:P:names"),
    (keys.room_polls("R"), "lc:{r:R}:polls"),
    (keys.room_live_poll("R"), "lc:{r:R}:polls:live"),
    (keys.room_last_poll("R"), "lc:{r:R}:polls:last"),
    (keys.active_polls(), "lc:polls:active"),
    (keys.payment_claim("U|K"), "lc:{pay:fb0f}:claim:U|K"),
    (keys.payment("pay_1a1b_P"), "lc:{pay:1a1b}:payment:pay_1a1b_P"),
    (keys.payment("pay_P"), "lc:payment:pay_P"),
    (keys.webhook_endpoints("C"), "lc:{w:C}:endpoints"),
    (keys.webhook_log("C"), "lc:{w:C}:log"),
    (keys.webhooks_due(), "lc:webhooks:due"),
    (keys.webhook_delivery("D"), "lc:webhooks:delivery:D"),
    (keys.limit("signup", "d1"), "lc:limit:signup:d1"),
    (keys.groupbuy_hash("R", "G"), "lc:{r:R}:gb:G"),
    (keys.groupbuy_lease("R", "G"), "lc:{r:R}:gb:G:lease"),
    (keys.room_groupbuys("R"), "lc:{r:R}:groupbuys"),
    (keys.groupbuy_rooms(), "lc:groupbuy_room"),
    (keys.groupbuys_due(), "lc:groupbuys:due"),
    (keys.limit_for_user("signin_account", "u1"), "lc:limit:signin_account:{u1}"),
    (keys.limit_for_user_at("signin_failures", "u1", "a1"), "lc:limit:signin_failures:{u1}:a1"),
]


@pytest.mark.parametrize(("built", "stored"), PINNED)
def test_a_key_keeps_the_name_it_was_stored_under(built: str, stored: str) -> None:
    assert built == stored


def test_a_sale_script_gets_the_sale_keys_in_the_order_its_prelude_names_them() -> None:
    assert keys.sale("R", "S") == [
        "lc:{r:R}:sale:S",
        "lc:{r:R}:sale:S:expiry",
        "lc:{r:R}:sale:S:holds",
        "lc:{r:R}:sale:S:users",
        "lc:{r:R}:sale:S:waitlist",
        "lc:{r:R}:sale:S:wanted",
        "lc:{r:R}:holds_by_user",
    ]


def test_a_sign_in_reads_both_of_its_limits_in_one_slot() -> None:
    here = keys.limit_for_user_at("signin_failures", "u1", "a1")
    anywhere = keys.limit_for_user("signin_account", "u1")
    assert here.count("{u1}") == anywhere.count("{u1}") == 1


def test_a_group_buy_script_gets_the_group_keys_in_the_order_its_prelude_names_them() -> None:
    assert keys.groupbuy("R", "G") == [
        "lc:{r:R}:gb:G",
        "lc:{r:R}:gb:G:joins",
        "lc:{r:R}:gb:G:users",
        "lc:{r:R}:gb:G:keys",
        "lc:{r:R}:gb:G:todo",
    ]


def test_a_rooms_channel_and_fence_share_the_rooms_slot_and_name_it_back() -> None:
    """The script that writes a room event publishes it in the same slot (SPUBLISH), and the
    durability fence of an order sits beside it."""
    slot = key_slot(keys.room("r_Ab-9").encode())
    assert key_slot(keys.room_channel("r_Ab-9").encode()) == slot
    assert key_slot(keys.fence_of(keys.room_orders("r_Ab-9")).encode()) == slot
    assert keys.room_of_channel(keys.room_channel("r_Ab-9")) == "r_Ab-9"
    assert keys.fence_of(keys.buyer_orders("U")) == "lc:{u:U}:fence"
    with pytest.raises(ValueError, match="no hash tag"):
        keys.fence_of("lc:untagged")


def test_an_account_shares_its_users_slot_and_accounts_spread() -> None:
    slot = key_slot(keys.account("u_1").encode())
    assert key_slot(keys.account_deleted("u_1").encode()) == slot
    assert key_slot(keys.buyer_orders("u_1").encode()) == slot
    assert key_slot(keys.account("u_2").encode()) != slot


def test_a_payment_and_its_claim_share_a_slot() -> None:
    claim = keys.payment_claim("u_1|pay-1")
    ref = f"pay_{keys.payment_shard('u_1|pay-1')}_0123456789abcdef01234567"
    assert key_slot(keys.payment(ref).encode()) == key_slot(claim.encode())
