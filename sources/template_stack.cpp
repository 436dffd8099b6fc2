#include <iostream>
#include <string>
#include <vector>

template <typename T>
class Stack {
public:
    void push(const T& value) { items_.push_back(value); }
    T pop() {
        T top = items_.back();
        items_.pop_back();
        return top;
    }
    bool empty() const { return items_.empty(); }
    std::size_t size() const { return items_.size(); }

private:
    std::vector<T> items_;
};

int main() {
    Stack<int> numbers;
    for (int i = 1; i <= 4; ++i) {
        numbers.push(i * i);
    }
    std::cout << "Int stack size: " << numbers.size() << std::endl;
    std::cout << "Popped:";
    while (!numbers.empty()) {
        std::cout << " " << numbers.pop();
    }
    std::cout << std::endl;
    Stack<std::string> words;
    words.push("first");
    words.push("second");
    words.push("third");
    std::cout << "Popped:";
    while (!words.empty()) {
        std::cout << " " << words.pop();
    }
    std::cout << std::endl;
    return 0;
}
