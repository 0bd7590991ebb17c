// Decoded Python objects -> c10::IValues, without recursion: an explicit post-order walk that
// converts each shared container once (so Python's aliasing is kept and a DAG cannot blow up),
// refuses reference cycles and limits nesting, which keeps the recursive IValue destructor safe.
#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

#include "io/pickle/pickle_objects.h"
#include "psam/io/dtype.h"

namespace psam::io {

std::string DictNotes::python_type(const c10::IValue& dict) const {
  if (!dict.isGenericDict()) return "";
  const void* key = dict.internalToPointer();
  if (metadata.count(key) != 0) return "OrderedDict with _metadata";
  return ordered.count(key) != 0 ? "OrderedDict" : "dict";
}

namespace pickle_detail {
namespace {

bool is_container(Kind k) {
  return k == Kind::kList || k == Kind::kTuple || k == Kind::kDict || k == Kind::kSet ||
         k == Kind::kFrozenSet;
}

class Converter {
 public:
  Converter(const Context& ctx, DictNotes* notes) : ctx_(ctx), notes_(notes) {}

  c10::IValue run(const Value& root) {
    if (!is_container(root.kind())) return leaf(root);
    push(root.node);
    while (!frames_.empty()) {
      Frame& f = frames_.back();
      const size_t count = f.node->items.size() + (f.node->has_metadata ? 1 : 0);
      if (f.next < count) {
        const Value& child =
            f.next < f.node->items.size() ? f.node->items[f.next] : f.node->metadata;
        ++f.next;
        if (!is_container(child.kind())) continue;
        auto done = height_.find(child.node);
        if (done != height_.end()) {
          f.height = std::max(f.height, done->second);
        } else {
          if (active_.count(child.node) != 0) ctx_.fail("the object contains a reference cycle");
          push(child.node);  // invalidates f
        }
        continue;
      }
      const int height = f.height + 1;
      if (height > ctx_.options.max_depth) too_deep();
      Node* node = f.node;
      frames_.pop_back();
      active_.erase(node);
      converted_.emplace(node, make(*node));
      height_.emplace(node, height);
      if (!frames_.empty()) frames_.back().height = std::max(frames_.back().height, height);
    }
    return converted_.at(root.node);
  }

 private:
  struct Frame {
    Node* node;
    size_t next = 0;
    int height = 0;  // of the tallest child converted so far
  };

  void push(Node* node) {
    if (static_cast<int>(frames_.size()) >= ctx_.options.max_depth) too_deep();
    active_.insert(node);
    frames_.push_back(Frame{node});
  }

  [[noreturn]] void too_deep() const {
    ctx_.fail(fmt::format("containers nested deeper than {} levels", ctx_.options.max_depth));
  }

  c10::IValue value(const Value& v) const {
    return is_container(v.kind()) ? converted_.at(v.node) : leaf(v);
  }

  c10::IValue leaf(const Value& v) const {
    switch (v.kind()) {
      case Kind::kNone:
        return c10::IValue();
      case Kind::kBool:
        return c10::IValue(v.i != 0);
      case Kind::kInt:
        return c10::IValue(v.i);
      case Kind::kFloat:
        return c10::IValue(v.f);
      case Kind::kStr:
      case Kind::kBytes:
        return c10::IValue(std::string(v.node->text));
      case Kind::kTensor:
        return c10::IValue(v.node->tensor);
      case Kind::kTorchDtype:
        return c10::IValue("torch." + dtype_name(v.node->dtype));
      case Kind::kNumpyDtype:
        return c10::IValue("numpy." + dtype_name(v.node->dtype));
      default:
        break;
    }
    ctx_.fail("the result holds a " + describe(v) + ", which is not data psam can represent");
  }

  c10::IValue make(const Node& node) const {
    std::vector<c10::IValue> items;
    items.reserve(node.items.size());
    for (const auto& item : node.items) items.push_back(value(item));
    switch (node.kind) {
      case Kind::kTuple:
      case Kind::kFrozenSet:
        return c10::ivalue::Tuple::create(std::move(items));
      case Kind::kList:
      case Kind::kSet: {
        c10::impl::GenericList list(c10::AnyType::get());
        list.reserve(items.size());
        for (auto& item : items) list.push_back(std::move(item));
        return list;
      }
      default:
        return make_dict(node, items);
    }
  }

  c10::IValue make_dict(const Node& node, std::vector<c10::IValue>& items) const {
    bool all_str = true, all_int = true;
    for (size_t i = 0; i < items.size(); i += 2) {
      all_str = all_str && items[i].isString();
      all_int = all_int && items[i].isInt();
    }
    c10::TypePtr key_type = all_str   ? c10::TypePtr(c10::StringType::get())
                            : all_int ? c10::TypePtr(c10::IntType::get())
                                      : c10::TypePtr(c10::AnyType::get());
    c10::impl::GenericDict dict(key_type, c10::AnyType::get());
    for (size_t i = 0; i < items.size(); i += 2) {
      try {
        dict.insert_or_assign(std::move(items[i]), std::move(items[i + 1]));
      } catch (const std::exception&) {
        ctx_.fail("dict key of type " + describe(node.items[i]) + " is not supported");
      }
    }
    c10::IValue out(dict);
    if (notes_ != nullptr) {
      if (node.ordered) notes_->ordered.insert(out.internalToPointer());
      if (node.has_metadata)
        notes_->metadata.emplace(out.internalToPointer(), value(node.metadata));
    }
    return out;
  }

  const Context& ctx_;
  DictNotes* notes_;
  std::vector<Frame> frames_;
  std::unordered_set<const Node*> active_;
  std::unordered_map<const Node*, int> height_;
  std::unordered_map<const Node*, c10::IValue> converted_;
};

}  // namespace

c10::IValue to_ivalue(const Context& ctx, const Value& root, DictNotes* notes) {
  return Converter(ctx, notes).run(root);
}

}  // namespace pickle_detail
}  // namespace psam::io
