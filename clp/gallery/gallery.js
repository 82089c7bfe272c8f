// Client-side filters of the gallery: label, status, review state and key text. Reads the cards' data-*
// attributes and only toggles `hidden` (no markup is built from data, so nothing in a key or label can run).
(function () {
  "use strict";
  var controls = {
    label: document.getElementById("filter-label"),
    status: document.getElementById("filter-status"),
    review: document.getElementById("filter-review"),
    key: document.getElementById("filter-key"),
  };
  var NO_LABEL = document.body.getAttribute("data-no-label");
  var cards = Array.prototype.map.call(document.querySelectorAll("article.card"), function (card) {
    return {
      element: card,
      labels: JSON.parse(card.getAttribute("data-labels")),
      status: card.getAttribute("data-status"),
      review: card.getAttribute("data-review"),
      key: card.getAttribute("data-key").toLowerCase(),
    };
  });

  function matches(card, wanted) {
    if (wanted.label === NO_LABEL) {
      if (card.status !== "DETECTED" || card.labels.length > 0) return false;
    } else if (wanted.label && card.labels.indexOf(wanted.label) < 0) {
      return false;
    }
    if (wanted.status && card.status !== wanted.status) return false;
    if (wanted.review && card.review !== wanted.review) return false;
    return !wanted.key || card.key.indexOf(wanted.key) >= 0;
  }

  function apply() {
    var wanted = {
      label: controls.label.value,
      status: controls.status.value,
      review: controls.review.value,
      key: controls.key.value.trim().toLowerCase(),
    };
    var shown = 0;
    cards.forEach(function (card) {
      var visible = matches(card, wanted);
      card.element.hidden = !visible;
      if (visible) shown += 1;
    });
    document.getElementById("shown-count").textContent = String(shown);
    document.getElementById("empty").hidden = shown > 0;
  }

  function toggle(id, className) {
    var box = document.getElementById(id);
    var update = function () { document.body.classList.toggle(className, !box.checked); };
    box.addEventListener("change", update);
    update();
  }

  Object.keys(controls).forEach(function (name) {
    controls[name].addEventListener("input", apply);
    controls[name].addEventListener("change", apply);
  });
  toggle("show-predicted", "hide-predicted");
  toggle("show-reviewed", "hide-reviewed");
  apply();
})();
