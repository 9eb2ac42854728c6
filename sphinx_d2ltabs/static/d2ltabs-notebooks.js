// sphinx_d2ltabs: the notebook / Colab / Studio Lab links of a page follow the selected
// framework tab. The tabs are sphinx-design's, synced in the "framework" group: the choice
// is the checked radio input of a tab set, remembered in localStorage (the key prefix is on
// design-tabs.js's script tag) or given as ?framework=NAME in the URL. Without JavaScript
// every framework's links are shown.
(function () {
  "use strict";
  var GROUP = "framework";

  function remembered() {
    var fromUrl = new URLSearchParams(window.location.search).get(GROUP);
    if (fromUrl) return fromUrl;
    var script = document.querySelector("script[data-sd-tabs-storage-prefix]");
    var prefix = script ? script.getAttribute("data-sd-tabs-storage-prefix")
                        : "sphinx-design-tab-id-";
    if (!prefix) return null;
    try {
      return window.localStorage.getItem(prefix + GROUP);
    } catch (err) {
      return null;
    }
  }

  function show(name) {
    document.querySelectorAll(".d2l-notebook-links").forEach(function (box) {
      var groups = box.querySelectorAll("[data-d2l-framework]");
      var names = Array.prototype.map.call(groups, function (g) {
        return g.getAttribute("data-d2l-framework");
      });
      var pick = names.indexOf(name) >= 0 ? name : box.getAttribute("data-d2l-default");
      groups.forEach(function (g) {
        g.hidden = g.getAttribute("data-d2l-framework") !== pick;
      });
      box.classList.add("d2l-nb-js");
    });
  }

  // a tab chosen on this page (sphinx-design syncs the other tab sets the same way)
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.checked) return;
    var label = input.nextElementSibling;
    if (label && label.getAttribute("data-sync-group") === GROUP) {
      show(label.getAttribute("data-sync-id"));
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    show(remembered());
  });
})();
